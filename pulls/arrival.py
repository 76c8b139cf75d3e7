"""Completeness curves of late-arriving tables, inside the table's one scan.

A table whose rows say when they arrived (`tables.<name>.completeness_curve.column`) gets, for every
metric of the table and every lag k of `lags_days`, one more aggregate: the metric over the rows that
had arrived by the end of the partition's day + k (`<metric>__arrived_d<k>`). They are ordinary
metric columns with one more row filter, so the pull computes them in the same scan as the metric
itself, and the metric store keeps them like any other point. The metric itself counts every row the
partition holds at the pull; the curve says how much of that was there at D+0, D+1, ...

A lag whose day had not ended when the pull started is not a measurement yet (more rows may still
arrive by its end), so its points are left out (`drop_unreached_lags`): a partition pulled at D+1 has
its D+0 point only. The daily run of D re-pulls D - k for every lag k > 0 (`mq.stages.pull.settling_pulls`),
which adds lag k's points; the curve's points are versioned apart from the metrics' (the pull's content
hash leaves them out), so a re-pull that only reaches a later lag is not a new version of the
partition's data. A partition whose last lag is stored has settled: its count is final as far as the
curve goes.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from core.config import TableSpec, arrived_metric
from core.errors import PullError
from pulls.sql import MetricColumn


@dataclass(frozen=True)
class ArrivalColumn(MetricColumn):
    """A metric over the rows arrived by the end of D + `lag`."""
    lag: int = 0


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
            out.append(ArrivalColumn(arrived_metric(column.name, lag), column.expression, where, column.additive,
                                     lag))
    return out


def drop_unreached_lags(points: pd.DataFrame, columns: list[MetricColumn], partition: dt.date,
                        started: dt.datetime | None) -> pd.DataFrame:
    """`points` without those of the lags whose day (partition + lag) had not ended at `started` (UTC)."""
    if started is None:
        return points
    if started.tzinfo is None:
        started = started.replace(tzinfo=dt.timezone.utc)

    def ends(lag: int) -> dt.datetime:   # the end of day D + lag, in UTC
        return dt.datetime.combine(partition + dt.timedelta(days=lag + 1), dt.time(), dt.timezone.utc)

    unreached = {c.name for c in columns if isinstance(c, ArrivalColumn) and ends(c.lag) > started}
    if not unreached or points.empty:
        return points
    return points[~points.metric.isin(unreached)].reset_index(drop=True)


def monitored_only(points: pd.DataFrame, columns: list[MetricColumn], monitored: set[str]) -> pd.DataFrame:
    """`points` without the curve's points of slices that are not monitored (the leaves, unless they are
    a monitored slice set): the curve is read per monitored slice only, and the leaves hold most points."""
    curve = {c.name for c in columns if isinstance(c, ArrivalColumn)}
    if not curve or points.empty:
        return points
    unused = points.metric.isin(curve) & ~points.grouping.isin(monitored)
    return points[~unused].reset_index(drop=True) if unused.any() else points


def check_arrival_column(table: str, spec: TableSpec, columns: set[str]) -> None:
    """The configured arrival column exists in the table (checked before the scan, as dimensions are)."""
    curve = spec.completeness_curve
    if curve is not None and curve.column not in columns:
        raise PullError(f"tables.{table}.completeness_curve.column: column {curve.column!r} not found in table "
                        f"{table!r} (columns: {', '.join(sorted(columns))})")
