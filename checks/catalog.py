"""Which expectations a suite may name, and how their arguments are checked at load time.

Two kinds: every Great Expectations core expectation (arguments validated by GX's own model), and the
expectations of this project that GX lacks. Ours are declared here with a pydantic model for their
arguments; `checks/binding.py` turns them into GX expectations once the partition is known.
"""
from __future__ import annotations

import difflib
from typing import Any

import pydantic

# Argument names that refer to a column of the table (checked against the schema when binding).
COLUMN_KEYS = ("column", "column_A", "column_B")
COLUMN_LIST_KEYS = ("column_list",)


class PartitionFreshness(pydantic.BaseModel):
    """`expect_partition_freshness`: the newest value of `column` lies in the last `max_lag_hours`
    before the partition's end (midnight UTC after the partition date), and not after that end."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=True)

    column: str
    max_lag_hours: float = pydantic.Field(gt=0, le=24 * 31)


CUSTOM_EXPECTATIONS: dict[str, type[pydantic.BaseModel]] = {
    "expect_partition_freshness": PartitionFreshness,
}


class ArgumentError(ValueError):
    """An expectation's arguments are invalid; `field` names the offending argument, if known."""

    def __init__(self, field: str | None, message: str, value: object = None) -> None:
        self.field, self.value = field, value
        super().__init__(message)


def gx_expectation_class(name: str):
    """The GX class for a core expectation name, or None if GX has no such expectation."""
    from great_expectations.expectations.registry import _registered_expectations

    _ensure_gx_registered()
    return _registered_expectations.get(name)


def known_names() -> list[str]:
    from great_expectations.expectations.registry import _registered_expectations

    _ensure_gx_registered()
    return sorted({*_registered_expectations, *CUSTOM_EXPECTATIONS})


def closest_names(name: str) -> list[str]:
    return difflib.get_close_matches(name, known_names(), n=3, cutoff=0.6)


def is_known(name: str) -> bool:
    return name in CUSTOM_EXPECTATIONS or gx_expectation_class(name) is not None


def check_arguments(name: str, kwargs: dict[str, Any]) -> None:
    """Validate `kwargs` for expectation `name`; raise ArgumentError naming the first bad argument."""
    custom = CUSTOM_EXPECTATIONS.get(name)
    if custom is not None:
        try:
            custom(**kwargs)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or None
            raise ArgumentError(field, first["msg"], kwargs.get(field) if field else None) from None
        return
    gx_class = gx_expectation_class(name)
    if "result_format" in kwargs or "catch_exceptions" in kwargs:
        bad = "result_format" if "result_format" in kwargs else "catch_exceptions"
        raise ArgumentError(bad, "is set by the runner, not by the suite", kwargs[bad])
    try:
        gx_class(**kwargs)
    except Exception as exc:  # GX wraps pydantic v1 errors; some validators raise their own types
        errors = getattr(exc, "errors", None)
        if callable(errors):
            # An unknown argument explains the rest (a misspelt required one); otherwise the first
            # error is the telling one (smart unions add one error per union member after it).
            found = errors()
            first = next((e for e in found if e.get("type") == "value_error.extra"), found[0])
            field = ".".join(str(p) for p in first["loc"]) or None
            message = "unknown argument" if first.get("type") == "value_error.extra" else first["msg"]
            raise ArgumentError(field, message, kwargs.get(field) if field else None) from None
        raise ArgumentError(None, f"{type(exc).__name__}: {exc}") from None


def referenced_columns(kwargs: dict[str, Any]) -> list[tuple[str, str]]:
    """(argument, column) pairs an expectation reads, to check against the table schema."""
    found = [(key, kwargs[key]) for key in COLUMN_KEYS if isinstance(kwargs.get(key), str)]
    for key in COLUMN_LIST_KEYS:
        for column in kwargs.get(key) or []:
            found.append((key, column))
    return found


_registered = False


def _ensure_gx_registered() -> None:
    global _registered
    if not _registered:
        import great_expectations.expectations  # noqa: F401 - importing registers the core set

        _registered = True
