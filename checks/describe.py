"""A failed expectation in words: the rule, its threshold, what was observed, a few failing values.

What an alert says about a check, e.g.
    client_events.user_id: 38.1% of rows null (at most 2% allowed)
    warehouse_events.event_id: 4.8% of rows duplicated (none allowed); e.g. 'e-1', 'e-7'
    client_events: 512 rows (expected 1,000 to 200,000)
never the suite's keyword arguments. `outcome` is an `ExpectationOutcome` as a dict (the stored form).
"""
from __future__ import annotations

from typing import Any, Callable

SAMPLE_SHOWN = 3


def describe_failure(table: str, outcome: dict[str, Any]) -> str:
    name = outcome.get("expectation", "")
    column = outcome.get("column")
    where = f"{table}.{column}" if column else table
    if outcome.get("error"):
        return f"{where}: {_words(name)} could not be evaluated: {outcome['error']}"
    words = _DESCRIBERS.get(name, _generic)(outcome)
    return f"{where}: {words}{_sample(name, outcome.get('unexpected_sample') or [])}"


def _words(name: str) -> str:
    return name.removeprefix("expect_").replace("_", " ")


def _failing_share(outcome: dict) -> str:
    """Share of rows that fail, from the observed share that passes (what `mostly` is compared with)."""
    passing = outcome.get("observed_value")
    if isinstance(passing, (int, float)) and not isinstance(passing, bool):
        return f"{(1 - passing) * 100:.1f}% of rows"
    count = outcome.get("unexpected_count")
    return f"{count:,} rows" if isinstance(count, int) else "some rows"


def _allowed(outcome: dict) -> str:
    mostly = (outcome.get("threshold") or {}).get("mostly")
    if mostly is None or mostly >= 1:
        return "none allowed"
    return f"at most {(1 - mostly) * 100:.3g}% allowed"


def _map(what: Callable[[dict], str]) -> Callable[[dict], str]:
    return lambda o: f"{_failing_share(o)} {what(o)} ({_allowed(o)})"


def _values(values) -> str:
    values = list(values or [])
    shown = ", ".join(str(v) for v in values[:8])
    return "{" + shown + (f", +{len(values) - 8} more" if len(values) > 8 else "") + "}"


def _between(outcome: dict, unit: str = "") -> str:
    t = outcome.get("threshold") or {}
    low, high = t.get("min_value", t.get("low")), t.get("max_value", t.get("high"))
    observed = outcome.get("observed_value")
    bounds = (f"{_n(low)} to {_n(high)}" if low is not None and high is not None
              else f"at least {_n(low)}" if low is not None else f"at most {_n(high)}")
    return f"{_n(observed)}{unit} (expected {bounds})"


def _n(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 1000 else f"{value:.3g}"


_DESCRIBERS: dict[str, Callable[[dict], str]] = {
    "expect_column_values_to_not_be_null": _map(lambda o: "null"),
    "expect_column_values_to_be_unique": _map(lambda o: "duplicated"),
    "expect_column_values_to_be_in_set": _map(
        lambda o: f"outside {_values((o.get('threshold') or {}).get('value_set'))}"),
    "expect_column_values_to_match_regex": _map(
        lambda o: f"not matching {(o.get('threshold') or {}).get('regex')!r}"),
    "expect_column_values_to_be_between": _map(
        lambda o: f"outside {_n((o.get('threshold') or {}).get('min_value'))} to "
                  f"{_n((o.get('threshold') or {}).get('max_value'))}"),
    "expect_table_row_count_to_be_between": lambda o: _between(o, " rows"),
    "expect_row_count_ratio_to_be_between": lambda o: "client/warehouse row ratio " + _between(o),
    "expect_column_values_to_be_of_type": lambda o: (
        f"type {o.get('observed_value')} (expected {(o.get('threshold') or {}).get('type_')})"),
    "expect_column_values_to_be_in_type_list": lambda o: (
        f"type {o.get('observed_value')} (expected one of {_values((o.get('threshold') or {}).get('type_list'))})"),
    "expect_table_columns_to_match_set": lambda o: "columns differ from the expected set",
    "expect_partition_freshness": lambda o: (
        f"newest event at {o.get('observed_value')} (expected within the last "
        f"{(o.get('threshold') or {}).get('max_lag_hours')} h of the partition's day)"),
}


def _generic(outcome: dict) -> str:
    observed = outcome.get("observed_value")
    return f"{_words(outcome.get('expectation', 'expectation'))} failed" + (
        f" (observed {_n(observed)})" if observed is not None else "")


def _sample(name: str, sample: list) -> str:
    """A few failing values; nulls are not examples of anything, and column-set differences name
    the columns."""
    shown = [v for v in sample if v is not None][:SAMPLE_SHOWN]
    if not shown:
        return ""
    if name == "expect_table_columns_to_match_set":
        return ": " + ", ".join(map(str, shown))
    if name == "expect_row_count_ratio_to_be_between":
        return ""
    return "; e.g. " + ", ".join(repr(v) if isinstance(v, str) else str(v) for v in shown)
