"""Completeness curves of late-arriving tables, inside the table's one scan.

A table whose rows say when they arrived (`tables.<name>.completeness_curve.column`) gets, for every
metric of the table and every lag k of `lags_days`, one more aggregate: the metric over the rows that
had arrived by the end of the partition's day + k (`<metric>__arrived_d<k>`). They are ordinary
metric columns with one more row filter, so the pull computes them in the same scan as the metric
itself, and the metric store keeps them like any other point. The metric itself counts every row the
partition holds at the pull; the curve says how much of that was there at D+0, D+1, ...
"""
from __future__ import annotations

from core.config import TableSpec, arrived_metric
from core.errors import PullError
from pulls.sql import MetricColumn


def arrival_columns(spec: TableSpec, columns: list[MetricColumn]) -> list[MetricColumn]:
    """One column per metric of `columns` and lag of the table's completeness curve (none without one)."""
    curve = spec.completeness_curve
    if curve is None:
        return []
    out = []
    for column in columns:
        for lag in curve.lags_days:
            # By the end of day D+k, in the session time zone (mq runs Spark in UTC).
            arrived = f"CAST({curve.column} AS DATE) <= date_add(CAST({spec.partition_column} AS DATE), {lag})"
            where = f"({column.where}) AND {arrived}" if column.where else arrived
            out.append(MetricColumn(arrived_metric(column.name, lag), column.expression, where, column.additive))
    return out


def check_arrival_column(table: str, spec: TableSpec, columns: set[str]) -> None:
    """The configured arrival column exists in the table (checked before the scan, as dimensions are)."""
    curve = spec.completeness_curve
    if curve is not None and curve.column not in columns:
        raise PullError(f"tables.{table}.completeness_curve.column: column {curve.column!r} not found in table "
                        f"{table!r} (columns: {', '.join(sorted(columns))})")
