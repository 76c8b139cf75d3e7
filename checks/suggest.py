"""Bootstrap a suite: profile one partition in Spark and write a starter suite YAML for a human to edit.

An honest, small profiler. One aggregate pass computes, per column, the null fraction, an
approximate distinct count (HyperLogLog) and min/max; a second pass, over the few candidate
columns only, confirms what the first can only estimate: exact distinct counts for would-be unique
ids and the value sets of low-cardinality columns. Every suggested bound holds on the profiled data,
so the starter suite passes on the partition it was profiled from; tightening it is the reviewer's job.

A bound is proposed only where the column's nature supports it on the *next* partition too, and each
entry says why: no min/max on identifiers (named `*id`, `*_key`, `uuid`, or nearly every value distinct)
nor on high-cardinality numbers, whose extremes move every day (only their sign is kept); versions get
a pattern, not today's releases as a closed set; a closed range only for numbers with a few values.
"""
from __future__ import annotations

import math
import re

import yaml

from checks.binding import driver_local_to_utc
from checks.result import jsonable_value

MAX_VALUE_SET = 20          # a string column with at most this many values gets a value-set expectation
UNIQUE_CANDIDATE = 0.95     # approx distinct / non-null rows above this: confirm uniqueness exactly
FRESHNESS_FLOOR_HOURS = 6
NUMERIC = ("ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType", "DecimalType")
TIMESTAMPS = ("TimestampType", "TimestampNTZType")
ID_NAME = re.compile(r"(^|_)(id|key|uuid|guid)$", re.IGNORECASE)   # user_id, order_key, uuid
CAMEL_ID_NAME = re.compile(r"[a-z](Id|Key|Uuid)$")                    # userId
VERSION_VALUE = re.compile(r"^v?\d+(\.\d+)+$")
NEAR_UNIQUE = 0.5           # a number with more distinct values than this share of rows is not a small set


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

    entries: list[tuple[str | None, dict | None]] = [
        (f"{rows:,} rows profiled; half to twice that", {"expect_table_row_count_to_be_between": {
            "min_value": rows // 2, "max_value": max(rows * 2, 1)}}),
        ("the columns seen; extra columns allowed",
         {"expect_table_columns_to_match_set": {"column_set": list(types), "exact_match": False}}),
    ]
    for column, type_name in types.items():
        s = stats[column]
        note = f"{column}: {type_name}, {_null_share(rows, s['nonnull'])} null, ~{s['distinct']:,} distinct"
        entries.append((note + "; its type", {"expect_column_values_to_be_of_type": {"column": column,
                                                                                     "type_": type_name}}))
        entries += _column_entries(column, type_name, rows, s, confirmed)
    return _render(table, entries)


def _is_identifier(column: str, type_name: str, s: dict) -> bool:
    """Named like an id, or an integer/string with nearly every value distinct (measurements such as
    prices are distinct too, but they are floats)."""
    if ID_NAME.search(column) or CAMEL_ID_NAME.search(column):
        return True
    return type_name in ("StringType", "LongType", "IntegerType") and s["nonnull"] > 0 \
        and s["distinct"] >= UNIQUE_CANDIDATE * s["nonnull"]


def _version_pattern(values: list) -> str | None:
    """A regex for a version column: numeric dotted versions of any number, plus the few literal values
    (`web`) it also holds; None when the values do not look like versions."""
    strings = [str(v) for v in values]
    versions = [v for v in strings if VERSION_VALUE.match(v)]
    if not versions or len(versions) < len(strings) / 2:
        return None
    literals = sorted(re.escape(v) for v in strings if not VERSION_VALUE.match(v))
    parts = {v.lstrip("v").count(".") + 1 for v in versions}
    dotted = r"v?\d+" + (rf"(\.\d+){{{min(parts) - 1},{max(parts) - 1}}}" if max(parts) > 1 else "")
    return "^(" + "|".join(literals + [dotted]) + ")$"


def _column_entries(column, type_name, rows, s, confirmed) -> list[tuple[str | None, dict]]:
    out: list[tuple[str | None, dict]] = []
    if rows and s["nonnull"] == rows:
        out.append((f"no nulls in {rows:,} rows", {"expect_column_values_to_not_be_null": {"column": column}}))
    elif rows and s["nonnull"] / rows >= 0.5:
        # Round the observed non-null share down to a whole percent, leaving room for noise.
        mostly = math.floor(s["nonnull"] / rows * 100 - 1) / 100
        out.append((f"{_null_share(rows, s['nonnull'])} null today; allowed up to {1 - max(mostly, 0.0):.0%}",
                    {"expect_column_values_to_not_be_null": {"column": column, "mostly": max(mostly, 0.0)}}))
    identifier = _is_identifier(column, type_name, s)
    values = confirmed.get(f"set_{column}")
    if values is not None and len(values) <= MAX_VALUE_SET:
        pattern = _version_pattern(values) if not identifier else None
        if pattern:
            out.append((f"versions ({len(values)} today): a pattern, so the next release does not fail",
                        {"expect_column_values_to_match_regex": {"column": column, "regex": pattern}}))
        else:
            out.append((f"closed set of {len(values)} values: a new value is a change to review",
                        {"expect_column_values_to_be_in_set": {"column": column, "value_set": list(values)}}))
    if confirmed.get(f"exact_{column}") == s["nonnull"]:
        out.append(("every value distinct in the profile", {"expect_column_values_to_be_unique": {"column": column}}))
    if type_name in NUMERIC and s["min"] is not None:
        out += _numeric_bounds(column, rows, s, identifier)
    if type_name in TIMESTAMPS and s["max"] is not None:
        newest = driver_local_to_utc(s["max"]) if type_name == "TimestampType" else s["max"]
        lag = _hours_before_day_end(newest)
        hours = max(FRESHNESS_FLOOR_HOURS, math.ceil(lag) + 1)
        out.append((f"newest {column} {jsonable_value(newest)} (assumed to fall on the partition date)",
                    {"expect_partition_freshness": {"column": column, "max_lag_hours": hours}}))
    return out


def _numeric_bounds(column, rows, s, identifier: bool) -> list[tuple[str | None, dict]]:
    """A closed range only for a number with a few values; a sign for other quantities; nothing for ids."""
    if identifier:
        return [(f"# no min/max on {column}: an identifier, each partition brings new values", None)]
    if s["distinct"] <= MAX_VALUE_SET and s["distinct"] < NEAR_UNIQUE * max(s["nonnull"], 1):
        return [(f"{s['distinct']} distinct values: a closed range", {"expect_column_values_to_be_between": {
            "column": column, "min_value": _plain(s["min"]), "max_value": _plain(s["max"])}})]
    if _plain(s["min"]) >= 0:
        return [(f"~{s['distinct']:,} distinct values: today's maximum is no limit, only the sign is kept",
                 {"expect_column_values_to_be_between": {"column": column, "min_value": 0}})]
    return [(f"# no min/max on {column}: ~{s['distinct']:,} distinct values of both signs move every day", None)]


def _hours_before_day_end(moment) -> float:
    """Hours from a (UTC) timestamp to the next midnight."""
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return 24 - (moment - midnight).total_seconds() / 3600


def _null_share(rows: int, nonnull: int) -> str:
    return f"{(rows - nonnull) / rows:.2%}" if rows else "n/a"


def _plain(value):
    return float(value) if not isinstance(value, (int, float)) else value


def _render(table: str, entries: list[tuple[str | None, dict | None]]) -> str:
    lines = [f"# Starter suite for `{table}`, written by `mq checks suggest` from one partition.",
             "# Every bound below holds on that partition; review and tighten before committing.",
             yaml.safe_dump({"table": table}, sort_keys=False).rstrip(), "expectations:"]
    for note, entry in entries:
        if note and note.startswith("# "):   # a bound left out on purpose, and why
            lines.append(f"  {note}")
        elif note:
            lines.append(f"  # {note}")
        if entry is None:
            continue
        body = yaml.safe_dump(entry, default_flow_style=True, sort_keys=False, width=100_000).strip()
        lines.append(f"  - {body[1:-1]}")
    return "\n".join(lines) + "\n"
