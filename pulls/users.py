"""Distinct users of a pair, per monitored slice and day: those the warehouse saw, and those of them the
client never logged that day in the same slice.

A pair with `user_column` (core.config.PairSpec) gets two more stored metrics (`user_metric_names`):
`<pair>:warehouse_users` and `<pair>:missed_users`; user capture is 1 - missed / warehouse users.

One Spark job per pair and range of partitions (one partition in a daily run, the whole range in a
backfill), for every monitored slice at once: both tables' rows are tagged with their side, unioned,
and reduced to one row per (day, slice, user) with "seen by the warehouse" and "seen by the client"
flags over GROUPING SETS, one set per monitored slice; a second aggregation counts the flags. This is
a grouped set comparison (a left anti join per slice, done for all slices in one pass); only the
counts per (day, slice) are collected.

NULL users: an event without a user is nobody's. A warehouse event without a user adds no user (and
so no missed user); a client event without a user vouches for no user, so a user whose every client
event lost its id that day counts as missed (the client lost who the user was). Comparing with
NOT IN or `=` would get this wrong silently (NOT IN over a set holding NULL is never true).

Slices fold rare dimension values into `(other)` as the warehouse table's own pull does
(`min_slice_rows`, `max_dimension_values`, ranked by the warehouse's rows of the day), so the slice
keys are those of the pair's event counts.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from core.config import Config, user_metric_names
from core.errors import PullError
from pulls.pull import TOTAL, slice_key
from pulls.sql import NULL_LABEL, OTHER_LABEL


@dataclass(frozen=True)
class UserPlan:
    """What the users job of one pair reads: both tables, the user column, the monitored slices."""
    pair: str
    client_table: str
    warehouse_table: str
    partition_column: str          # of the warehouse table; the client's is read as its own
    client_partition_column: str
    user_column: str
    dimensions: tuple[str, ...]    # the dimensions of the monitored slices
    groupings: tuple[tuple[str, ...], ...]

    @classmethod
    def from_config(cls, config: Config, pair: str) -> "UserPlan":
        spec = config.pairs[pair]
        if spec.user_column is None:
            raise PullError(f"pairs.{pair}.user_column is not set: the pair has no user metrics")
        dims = config.metric_dimensions(spec.client)
        groupings = tuple(dict.fromkeys(tuple(d for d in dims if d in s) for s in config.slices
                                        if set(s) <= set(dims)))
        used = tuple(d for d in dims if any(d in g for g in groupings))
        client, warehouse = config.metrics[spec.client].table, config.metrics[spec.warehouse].table
        return cls(pair, client, warehouse, config.tables[warehouse].partition_column,
                   config.tables[client].partition_column, spec.user_column, used, groupings)


def user_pairs(config: Config) -> list[str]:
    """The pairs that name a user column, in config order."""
    return [name for name, spec in config.pairs.items() if spec.user_column]


def check_user_column(spark, config: Config, pair: str) -> None:
    """The pair's user column and slice dimensions exist in both tables; else a PullError naming the
    config file, the key and the value."""
    plan = UserPlan.from_config(config, pair)
    for table in (plan.client_table, plan.warehouse_table):
        columns = set(spark.table(table).columns)
        if plan.user_column not in columns:
            raise PullError(f"{config.source_path}: pairs.{pair}.user_column: column {plan.user_column!r} not "
                            f"found in table {table!r} (columns: {', '.join(sorted(columns))})")
        missing = [d for d in plan.dimensions if d not in columns]
        if missing:
            raise PullError(f"{config.source_path}: pairs.{pair}.user_column: table {table!r} has no column "
                            f"{missing[0]!r} of the monitored slices (columns: {', '.join(sorted(columns))})")


def render_users(plan: UserPlan) -> str:
    """The Spark SQL of the users job over [`:start`, `:end`] (`:fold_below`, `:max_values`: the
    warehouse table's folding, see pulls/sql.py)."""
    dims, user = plan.dimensions, plan.user_column

    def rows(table: str, part: str, in_w: int) -> str:
        labels = "".join(f", COALESCE(CAST({d} AS STRING), '{NULL_LABEL}') AS {d}" for d in dims)
        return (f"SELECT {part} AS __ds{labels}, CAST({user} AS STRING) AS __user, {in_w} AS __in_w, "
                f"{1 - in_w} AS __in_c FROM {table} WHERE {part} BETWEEN :start AND :end")

    ctes = [f"w_rows AS ({rows(plan.warehouse_table, plan.partition_column, 1)})",
            f"c_rows AS ({rows(plan.client_table, plan.client_partition_column, 0)})"]
    joins = ""
    if dims:   # the warehouse's rows per leaf, from one scan: what each dimension's folding reads
        ctes.append(f"w_leaves AS (SELECT __ds{''.join(', ' + d for d in dims)}, COUNT(*) AS __n "
                    f"FROM w_rows GROUP BY __ds{''.join(', ' + d for d in dims)})")
    for d in dims:   # the warehouse's rows per value and day decide which values keep their own slice
        ctes.append(
            f"fold_{d} AS (SELECT __ds, {d} AS __v, CASE WHEN __n < :fold_below OR __r > :max_values "
            f"THEN '{OTHER_LABEL}' ELSE {d} END AS __f FROM (SELECT __ds, {d}, SUM(__n) AS __n, "
            f"DENSE_RANK() OVER (PARTITION BY __ds ORDER BY SUM(__n) DESC, {d}) AS __r "
            f"FROM w_leaves GROUP BY __ds, {d}))")
        joins += f" LEFT JOIN fold_{d} ON s.__ds = fold_{d}.__ds AND s.{d} = fold_{d}.__v"
    folded = [f"COALESCE(fold_{d}.__f, '{OTHER_LABEL}') AS {d}" for d in dims]
    ctes.append("sides AS (SELECT * FROM w_rows WHERE __user IS NOT NULL "
                "UNION ALL SELECT * FROM c_rows WHERE __user IS NOT NULL)")
    # The fold tables are small (values x days): broadcast, so the rows are never shuffled to meet them.
    hint = f"/*+ BROADCAST({', '.join(f'fold_{d}' for d in dims)}) */ " if dims else ""
    ctes.append(f"tagged AS (SELECT {hint}s.__ds, {''.join(f + ', ' for f in folded)}s.__user, s.__in_w, s.__in_c "
                f"FROM sides s{joins})")
    sets = ", ".join("(" + ", ".join(["__ds", "__user", *g]) + ")" for g in plan.groupings)
    dim_cols = "".join(f", {d}" for d in dims)
    # Both sides' rows of a user in a leaf of the monitored dimensions become one row first: the grouping
    # sets then expand about half as many rows (most users have one event a day, on both sides).
    ctes.append(f"leaf_users AS (SELECT __ds{dim_cols}, __user, MAX(__in_w) AS __in_w, MAX(__in_c) AS __in_c "
                f"FROM tagged GROUP BY __ds{dim_cols}, __user)")
    ctes.append(f"per_user AS (SELECT __ds{dim_cols}, __user, MAX(__in_w) AS __in_w, MAX(__in_c) AS __in_c "
                f"FROM leaf_users GROUP BY GROUPING SETS ({sets}))")
    # Dimension values are never NULL after COALESCE: NULL in a grouping set's row means "aggregated over".
    return ("WITH " + ",\n".join(ctes) + "\n"
            f"SELECT __ds{dim_cols}, COUNT_IF(__in_w = 1) AS users, "
            f"COUNT_IF(__in_w = 1 AND __in_c = 0) AS missed\nFROM per_user GROUP BY __ds{dim_cols}")


def pull_users(spark, config: Config, pair: str, start: dt.date, end: dt.date) -> dict[dt.date, pd.DataFrame]:
    """Day -> the pair's user points of that day (metric, slice_key, grouping, labels, value), for
    the days of [start, end] the warehouse has rows with a user; one Spark job for the range."""
    check_user_column(spark, config, pair)
    plan = UserPlan.from_config(config, pair)
    spec = config.tables[plan.warehouse_table]
    args = {"start": start, "end": end}
    if plan.dimensions:   # the folding parameters exist only when a monitored slice has dimensions
        args.update(fold_below=spec.min_slice_rows, max_values=spec.max_dimension_values)
    frame = spark.sql(render_users(plan), args=args).toPandas()
    return {day: user_points(plan, part) for day, part in frame.groupby(pd.to_datetime(frame.__ds).dt.date)}


def user_points(plan: UserPlan, frame: pd.DataFrame) -> pd.DataFrame:
    """One day's counts (a row per slice: dimension columns, NULL = aggregated over; users; missed) as
    long-format points of the two user metrics."""
    users_metric, missed_metric = user_metric_names(plan.pair)
    out = []
    for r in frame.to_dict("records"):
        labels = {d: r[d] for d in plan.dimensions if r[d] is not None and not pd.isna(r[d])}
        key, grouping = slice_key(labels), ",".join(labels)
        for metric, value in ((users_metric, r["users"]), (missed_metric, r["missed"])):
            out.append({"metric": metric, "slice_key": key, "grouping": grouping, "labels": labels,
                        "value": float(value)})
    points = pd.DataFrame(out, columns=["metric", "slice_key", "grouping", "labels", "value"])
    return points.sort_values(["metric", "grouping", "slice_key"]).reset_index(drop=True)


__all__ = ["TOTAL", "UserPlan", "check_user_column", "pull_users", "render_users", "user_pairs",
           "user_points"]
