"""Bootstrap a suite: profile one partition in Spark and write a starter suite YAML for a human to edit.

An honest, small profiler. One aggregate pass computes, per column, the null fraction, an
approximate distinct count (HyperLogLog) and min/max; a second pass, over the few candidate
columns only, confirms what the first can only estimate: exact distinct counts for would-be unique
ids and the value sets of low-cardinality columns. Every suggested bound holds on the profiled data,
so the starter suite passes on the partition it was profiled from; tightening it is the reviewer's job.
"""
from __future__ import annotations

import math

import yaml

from checks.binding import driver_local_to_utc
from checks.result import jsonable_value

MAX_VALUE_SET = 20          # a string column with at most this many values gets a value-set expectation
UNIQUE_CANDIDATE = 0.95     # approx distinct / non-null rows above this: confirm uniqueness exactly
FRESHNESS_FLOOR_HOURS = 6
NUMERIC = ("ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType", "DecimalType")
TIMESTAMPS = ("TimestampType", "TimestampNTZType")


def suggest_suite(df, table: str) -> str:
    """Profile `df` (one partition of `table`) and return starter suite YAML text."""
    from pyspark.sql import functions as F

    types = {f.name: type(f.dataType).__name__ for f in df.schema.fields}
    aggregates = [F.count(F.lit(1)).alias("rows")]
    for i, column in enumerate(types):
        c = F.col(f"`{column}`")
        aggregates += [F.count(c).alias(f"nonnull_{i}"), F.approx_count_distinct(c).alias(f"distinct_{i}")]
        if types[column] in NUMERIC + TIMESTAMPS + ("DateType",):
            aggregates += [F.min(c).alias(f"min_{i}"), F.max(c).alias(f"max_{i}")]
    profile = df.agg(*aggregates).first().asDict()
    rows = profile["rows"]
    stats = {column: {"nonnull": profile[f"nonnull_{i}"], "distinct": profile[f"distinct_{i}"],
                      "min": profile.get(f"min_{i}"), "max": profile.get(f"max_{i}")}
             for i, column in enumerate(types)}

    set_candidates = [c for c in types if types[c] == "StringType" and 0 < stats[c]["distinct"] <= MAX_VALUE_SET]
    unique_candidates = [c for c in types if stats[c]["nonnull"]
                         and stats[c]["distinct"] >= UNIQUE_CANDIDATE * stats[c]["nonnull"]
                         and types[c] in ("StringType", "LongType", "IntegerType")]
    confirmed = {}
    if set_candidates or unique_candidates:
        confirm = ([F.sort_array(F.collect_set(F.col(f"`{c}`"))).alias(f"set_{c}") for c in set_candidates]
                   + [F.count_distinct(F.col(f"`{c}`")).alias(f"exact_{c}") for c in unique_candidates])
        confirmed = df.agg(*confirm).first().asDict()

    entries: list[tuple[str | None, dict]] = [
        (f"{rows:,} rows profiled", {"expect_table_row_count_to_be_between": {
            "min_value": rows // 2, "max_value": max(rows * 2, 1)}}),
        (None, {"expect_table_columns_to_match_set": {"column_set": list(types), "exact_match": False}}),
    ]
    for column, type_name in types.items():
        s = stats[column]
        note = f"{column}: {type_name}, {_null_share(rows, s['nonnull'])} null, ~{s['distinct']:,} distinct"
        entries.append((note, {"expect_column_values_to_be_of_type": {"column": column, "type_": type_name}}))
        entries += _column_entries(column, type_name, rows, s, confirmed)
    return _render(table, entries)


def _column_entries(column, type_name, rows, s, confirmed) -> list[tuple[str | None, dict]]:
    out: list[tuple[str | None, dict]] = []
    if rows and s["nonnull"] == rows:
        out.append((None, {"expect_column_values_to_not_be_null": {"column": column}}))
    elif rows and s["nonnull"] / rows >= 0.5:
        # Round the observed non-null share down to a whole percent, leaving room for noise.
        mostly = math.floor(s["nonnull"] / rows * 100 - 1) / 100
        out.append((None, {"expect_column_values_to_not_be_null": {"column": column, "mostly": max(mostly, 0.0)}}))
    if f"set_{column}" in confirmed and len(confirmed[f"set_{column}"]) <= MAX_VALUE_SET:
        out.append((None, {"expect_column_values_to_be_in_set": {
            "column": column, "value_set": list(confirmed[f"set_{column}"])}}))
    if confirmed.get(f"exact_{column}") == s["nonnull"]:
        out.append(("every value distinct in the profile", {"expect_column_values_to_be_unique": {"column": column}}))
    if type_name in NUMERIC and s["min"] is not None:
        out.append((None, {"expect_column_values_to_be_between": {
            "column": column, "min_value": _plain(s["min"]), "max_value": _plain(s["max"])}}))
    if type_name in TIMESTAMPS and s["max"] is not None:
        newest = driver_local_to_utc(s["max"]) if type_name == "TimestampType" else s["max"]
        lag = _hours_before_day_end(newest)
        hours = max(FRESHNESS_FLOOR_HOURS, math.ceil(lag) + 1)
        out.append((f"newest {column} {jsonable_value(newest)} (assumed to fall on the partition date)",
                    {"expect_partition_freshness": {"column": column, "max_lag_hours": hours}}))
    return out


def _hours_before_day_end(moment) -> float:
    """Hours from a (UTC) timestamp to the next midnight."""
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return 24 - (moment - midnight).total_seconds() / 3600


def _null_share(rows: int, nonnull: int) -> str:
    return f"{(rows - nonnull) / rows:.2%}" if rows else "n/a"


def _plain(value):
    return float(value) if not isinstance(value, (int, float)) else value


def _render(table: str, entries: list[tuple[str | None, dict]]) -> str:
    lines = [f"# Starter suite for `{table}`, written by `mq checks suggest` from one partition.",
             "# Every bound below holds on that partition; review and tighten before committing.",
             yaml.safe_dump({"table": table}, sort_keys=False).rstrip(), "expectations:"]
    for note, entry in entries:
        if note:
            lines.append(f"  # {note}")
        body = yaml.safe_dump(entry, default_flow_style=True, sort_keys=False, width=100_000).strip()
        lines.append(f"  - {body[1:-1]}")
    return "\n".join(lines) + "\n"
