"""The project's own result type for checks: what the audit record stores, pass or fail.

GX result objects never leave `checks/`: `validate_partition` and `ratio_check` both return a
`CheckResult`, so the pipeline, the alert router and the ledger see one shape.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict.

    `threshold` holds the arguments that define the expectation (e.g. `{"column": "user_id",
    "mostly": 0.98}`), `observed_value` what was measured (a number, a list of columns, an ISO
    timestamp) or None where the fast path did not compute it, `unexpected_sample` a few distinct
    offending values (filled for failing expectations).
    """

    expectation: str
    column: str | None
    success: bool
    observed_value: Any = None
    threshold: dict[str, Any] = field(default_factory=dict)
    unexpected_count: int | None = None
    unexpected_sample: list[Any] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class CheckResult:
    suite: str
    table: str
    partition: dt.date
    success: bool
    suite_hash: str
    expectations: list[ExpectationOutcome]

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.expectations if not outcome.success]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: dates and timestamps as ISO strings, NaN as None."""
        return _jsonable(asdict(self))


def jsonable_value(value: Any) -> Any:
    """A value as it should appear in an outcome: plain JSON types, timestamps as ISO-8601 UTC."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat() + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, (set, frozenset, tuple)):
        return [jsonable_value(v) for v in sorted(value, key=str)]
    if isinstance(value, list):
        return [jsonable_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable_value(v) for k, v in value.items()}
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


_jsonable = jsonable_value
