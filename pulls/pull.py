"""Pull one table partition: every metric of the table, for every slice, in one Spark scan.

Returns long-format metric points (metric, slice, value) plus the completeness evidence an auditor needs:
the rendered SQL and its hash, the input files with their row counts, the partition's row count,
start/end times and the Spark application id. A missing or empty partition is reported as status
`missing` (a freshness alert), never as zeros that a detector would read as a drop. A partition whose
files cannot be read (corrupt, or text that is not UTF-8) is status `error` with a one-line reason
naming the file (an alert on that partition); the other partitions are pulled as usual.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from metricstore import utcnow
from core.config import Config
from core.errors import PullError
from pulls.arrival import (ArrivalColumn, arrival_columns, check_arrival_column, drop_unreached_lags,
                           monitored_only)
from pulls.inputs import diagnose, spark_reason
from pulls.sql import MetricColumn, PullQuery, render_pull
from pulls.tables import _first_line, partition_files

TOTAL = "(total)"


def slice_key(labels: dict[str, str]) -> str:
    """Canonical slice name: `platform=android&app_version=10.3`; the total is `(total)`."""
    return "&".join(f"{k}={v}" for k, v in labels.items()) or TOTAL


@dataclass
class PullResult:
    table: str
    partition: dt.date
    status: str                         # ok | missing | error
    row_count: int
    points: pd.DataFrame                # metric, slice_key, grouping, labels, value
    evidence: dict = field(default_factory=dict)


def table_plan(config: Config, table: str) -> tuple[list[str], list[list[str]], list[MetricColumn]]:
    """Dimensions, grouping sets and metric columns of one table's pull."""
    names = [m for m, spec in config.metrics.items() if spec.table == table]
    dims: list[str] = []
    for m in names:
        dims += [d for d in config.metric_dimensions(m) if d not in dims]
    groupings = [g for g in config.slices if set(g) <= set(dims)] + [dims]
    columns = [MetricColumn(m, config.metrics[m].expression, config.metrics[m].where,
                            config.metrics[m].additive) for m in names]
    return dims, groupings, columns + arrival_columns(config.tables[table], columns)


def pull_partition(spark, config: Config, table: str, partition: dt.date) -> PullResult:
    spec = config.tables[table]
    dims, groupings, columns = table_plan(config, table)
    query = render_pull(table, spec.partition_column, dims, groupings, columns, fold_below=spec.min_slice_rows,
                        max_values=spec.max_dimension_values)
    started = utcnow()
    _check_columns(spark, config, table, dims)
    files = partition_files(spark, table, spec, partition)
    evidence = {"table_name": table, "partition": partition, "sql_text": query.sql,
                "sql_hash": query.sql_hash, "input_files": files, "started_at": started,
                "spark_app_id": _app_id(spark)}
    args = {"ds": partition, **_fold_args(spec, dims)}
    try:
        frame = _run(spark, config, query, columns, args) if files else pd.DataFrame()
    except InputError as exc:
        evidence["finished_at"] = utcnow()
        reason = diagnose(spark, files, spec.format, dims) or f"{table}: {exc.reason}"
        return _failed(table, partition, evidence, reason)
    evidence["finished_at"] = utcnow()
    evidence["error"] = None
    return _result(table, partition, frame, dims, columns, evidence, monitored=_monitored(dims, groupings))


def pull_partitions(spark, config: Config, table: str, start: dt.date, end: dt.date) -> list[PullResult]:
    """Every partition of [start, end]: one scan when every input reads, else partition by partition,
    so one bad file costs its own partition only."""
    try:
        return pull_range(spark, config, table, start, end)
    except InputError:
        out, day = [], start
        while day <= end:
            out.append(pull_partition(spark, config, table, day))
            day += dt.timedelta(days=1)
        return out


def _fold_args(spec, dims: list[str]) -> dict:
    """The bound parameters of the folding steps (render_pull folds whenever there are dimensions)."""
    return {"fold_below": spec.min_slice_rows, "max_values": spec.max_dimension_values} if dims else {}


def _failed(table: str, partition: dt.date, evidence: dict, reason: str) -> PullResult:
    evidence.update(status="error", row_count=None, error=reason,
                    content_hash=hashlib.sha256(f"error:{reason}".encode()).hexdigest())
    return PullResult(table, partition, "error", 0, _empty_points(), evidence)


def pull_range(spark, config: Config, table: str, start: dt.date, end: dt.date) -> list[PullResult]:
    """Every partition of [start, end] from ONE scan (a backfill): the same results as pulling each
    partition alone, with the evidence of the shared query."""
    spec = config.tables[table]
    dims, groupings, columns = table_plan(config, table)
    query = render_pull(table, spec.partition_column, dims, groupings, columns, date_range=True,
                        fold_below=spec.min_slice_rows, max_values=spec.max_dimension_values)
    started = utcnow()
    _check_columns(spark, config, table, dims)
    files = partition_files(spark, table, spec, (start, end))
    args = {"start": start, "end": end, **_fold_args(spec, dims)}
    frame = _run(spark, config, query, columns, args)
    finished, app_id, pc = utcnow(), _app_id(spark), spec.partition_column
    # Post-process the whole range at once, then split by day: per-day pandas work on a 56-day
    # backfill cost more than Spark's second aggregation stage (see bench/pull_plans.py).
    days = pd.to_datetime(frame[pc]).dt.date if len(frame) else pd.Series([], dtype=object)
    frames = {day: part.drop(columns=[pc]) for day, part in frame.groupby(days.to_numpy(), sort=False)}
    points = _to_points(frame, dims, [c.name for c in columns])
    point_days = np.tile(days.to_numpy(), len(columns)) if len(frame) else np.array([], dtype=object)
    day_points = dict(tuple(points.groupby(point_days, sort=False))) if len(points) else {}
    results, day = [], start
    while day <= end:
        evidence = {"table_name": table, "partition": day, "sql_text": query.sql, "sql_hash": query.sql_hash,
                    "input_files": files.get(day, []), "started_at": started, "finished_at": finished,
                    "spark_app_id": app_id, "error": None}
        part = frames.get(day, frame.iloc[0:0])
        part_points = day_points[day].reset_index(drop=True) if day in day_points else None
        results.append(_result(table, day, part, dims, columns, evidence, part_points, _monitored(dims, groupings)))
        day += dt.timedelta(days=1)
    return results


def _monitored(dims: list[str], groupings: list[list[str]]) -> set[str]:
    """The stored `grouping` of each monitored slice set (`table_plan`'s groupings but the leaves)."""
    return {",".join(d for d in dims if d in g) for g in groupings[:-1]}


def _result(table, partition, frame, dims, columns, evidence, points=None,
            monitored: set[str] | None = None) -> PullResult:
    """`monitored`: the groupings whose curve points are kept (None: every one)."""
    if not evidence["input_files"]:
        evidence.update(status="missing", row_count=0, content_hash=hashlib.sha256(b"missing").hexdigest())
        return PullResult(table, partition, "missing", 0, _empty_points(), evidence)
    if frame.empty:   # files without rows: as missing as no files at all (a freshness alert, not zeros)
        n = len(evidence["input_files"])
        evidence.update(status="missing", row_count=0, error=f"{n} file{'s' if n != 1 else ''} but no rows",
                        content_hash=hashlib.sha256(b"empty").hexdigest())
        return PullResult(table, partition, "missing", 0, _empty_points(), evidence)
    if points is None:
        points = _to_points(frame, dims, [c.name for c in columns])
    points = drop_unreached_lags(points, columns, partition, evidence.get("started_at"))
    if monitored is not None:
        points = monitored_only(points, columns, monitored)
    total = frame[list(dims)].isna().all(axis=1) if dims else slice(None)
    row_count = int(frame.loc[total, "__rows"].iloc[0])
    # How many values each dimension had (before folding): the cardinality guard's evidence.
    evidence["dimension_values"] = {d: int(frame.loc[total, f"__seen_{d}"].iloc[0]) for d in dims
                                    if f"__seen_{d}" in frame}
    # The hash that decides whether a re-pull is a new version covers the metrics, not their completeness
    # curve: a re-pull that only finds a later lag reached is the same data (pulls/arrival.py).
    reported = points[~points.metric.isin({c.name for c in columns if isinstance(c, ArrivalColumn)})]
    content = hashlib.sha256(json.dumps(
        sorted(zip(reported.metric, reported.slice_key, reported.value.round(9))), default=str).encode()).hexdigest()
    evidence.update(status="ok", row_count=row_count, content_hash=content)
    return PullResult(table, partition, "ok", row_count, points, evidence)


def _check_columns(spark, config: Config, table: str, dims: list[str]) -> None:
    columns = set(spark.table(table).columns)
    check_arrival_column(table, config.tables[table], columns)
    for d in dims:
        if d not in columns:
            owner = next(m for m, s in config.metrics.items()
                         if s.table == table and d in config.metric_dimensions(m))
            raise PullError(f"metrics.{owner}.dimensions: column {d!r} not found in table {table!r} "
                            f"(columns: {', '.join(sorted(columns))})")


def _run(spark, config: Config, query: PullQuery, columns: list[MetricColumn], args: dict) -> pd.DataFrame:
    try:
        return spark.sql(query.sql, args=args).toPandas()
    except Exception as exc:
        for column in columns:   # find the metric whose SQL is at fault, to name it
            try:
                spark.sql(f"SELECT {column.aggregate} FROM {query.table} WHERE false",).collect()
            except Exception as inner:
                raise PullError(f"metrics.{column.name}.expression: Spark SQL error in "
                                f"{column.aggregate!r}: {_first_line(inner)}") from None
        raise InputError(query.table, spark_reason(exc)) from None


class InputError(PullError):
    """The metric SQL is sound but the data could not be read (corrupt file, undecodable text)."""

    def __init__(self, table: str, reason: str) -> None:
        self.reason = reason
        super().__init__(f"pull of table {table!r} failed: {reason}")


def _to_points(frame: pd.DataFrame, dims: list[str], metrics: list[str]) -> pd.DataFrame:
    """Wide aggregate rows -> one row per (metric, slice), metric-major (all rows of the first metric,
    then the next); NULL dimension = aggregated over. Rows are handled a grouping set at a time."""
    n = len(frame)
    keys, groupings = np.full(n, TOTAL, dtype=object), np.full(n, "", dtype=object)
    labels = np.empty(n, dtype=object)
    labels[:] = [{} for _ in range(n)]
    if dims and n:
        present = frame[dims].notna().to_numpy()
        patterns, inverse = np.unique(present, axis=0, return_inverse=True)
        for code, pattern in enumerate(patterns):
            rows = np.flatnonzero(inverse.ravel() == code)
            used = [d for d, p in zip(dims, pattern) if p]
            if not used:
                continue
            values = [frame[d].to_numpy()[rows].tolist() for d in used]
            labels[rows] = [dict(zip(used, vals)) for vals in zip(*values)]
            keys[rows] = ["&".join(f"{d}={v}" for d, v in zip(used, vals)) for vals in zip(*values)]
            groupings[rows] = ",".join(used)
    parts = [pd.DataFrame({"metric": m, "slice_key": keys, "grouping": groupings, "labels": labels,
                           "value": frame[f"m_{m}"].astype(float).to_numpy()}) for m in metrics]
    return pd.concat(parts, ignore_index=True) if parts else _empty_points()


def _empty_points() -> pd.DataFrame:
    return pd.DataFrame(columns=["metric", "slice_key", "grouping", "labels", "value"])


def _app_id(spark) -> str | None:
    try:
        return spark.sparkContext.applicationId
    except Exception:  # Spark Connect has no SparkContext
        try:
            return spark.conf.get("spark.app.id", None)
        except Exception:
            return None
