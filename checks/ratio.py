"""Client-vs-warehouse row-count ratio within a band: a check of our own, reported as a CheckResult.

Clients lose a few percent of events (offline devices, ad blockers), so the healthy ratio sits a
little under 1. A ratio below the band means client logging loss or an inflated warehouse side (a
duplicated load); above it, rows missing from the warehouse.
"""
from __future__ import annotations

import datetime as dt

from checks.result import CheckResult, ExpectationOutcome
from checks.spec import suite_hash

EXPECTATION = "expect_row_count_ratio_to_be_between"


def ratio_check(client_rows, warehouse_rows, *, low: float, high: float, partition: dt.date,
                name: str = "client_vs_warehouse_row_ratio",
                table: str = "client_events/warehouse_events") -> CheckResult:
    """`client_rows` / `warehouse_rows` within [low, high] (inclusive).

    Each side is a row count or a Spark DataFrame (counted in Spark). A warehouse side with no rows
    fails with no observed ratio: a missing partition is never a pass.
    """
    if not (isinstance(low, (int, float)) and isinstance(high, (int, float))) or not 0 <= low <= high:
        raise ValueError(f"need 0 <= low <= high, got low={low!r} high={high!r}")
    client, warehouse = _count(client_rows, "client_rows"), _count(warehouse_rows, "warehouse_rows")
    ratio = client / warehouse if warehouse else None
    success = ratio is not None and low <= ratio <= high
    threshold = {"low": low, "high": high}
    outcome = ExpectationOutcome(
        expectation=EXPECTATION, column=None, success=success,
        observed_value=None if ratio is None else round(ratio, 6), threshold=threshold,
        unexpected_count=None if success else 1,
        unexpected_sample=[] if success else [{"client_rows": client, "warehouse_rows": warehouse}])
    return CheckResult(suite=name, table=table, partition=partition, success=success,
                       suite_hash=suite_hash({"check": name, "expectation": EXPECTATION, **threshold}),
                       expectations=[outcome])


def _count(rows, argument: str) -> int:
    if hasattr(rows, "count") and hasattr(rows, "schema"):  # a Spark DataFrame
        return int(rows.count())
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise ValueError(f"{argument} must be a non-negative row count or a DataFrame, got {rows!r}")
    return rows
