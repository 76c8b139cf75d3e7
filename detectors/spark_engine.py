"""Score series inside Spark when they do not fit on one machine.

Series are bucketed by a hash of series_id (`pmod(xxhash64(series_id), buckets)`), with at most
about `group_series` series per bucket and at least as many buckets as Spark has cores, and each
bucket is scored on an executor by the same code the local engine uses
(`detectors.scoring.score_group`) through `groupBy(bucket).applyInPandas`. Every row of a series
lands in the same bucket, so a bucket holds whole series, and only the days the detectors read are
shipped to Python. What comes back to the driver is the small per-series result (one row per series,
detector and date, no FDR yet); the runner then applies Benjamini-Hochberg over all of it, exactly as
for the local engine.

The baseline marks (past flags, `detectors.baseline`) travel with the function to every executor;
they are one row per flagged slice-day, small beside the history.

`applyInPandas` loads one whole group into the executor's Python worker
(https://spark.apache.org/docs/latest/api/python/reference/pyspark.sql/api/pyspark.sql.GroupedData.applyInPandas.html),
which is why buckets are sized in series rather than left to the data.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from detectors.scoring import RAW_COLUMNS, check_columns, score_group, window_origin
from detectors.spec import DetectorSpec

# The schema of `score_group`'s result as Spark returns it to the driver.
RAW_SCHEMA = (
    "series_id string, spec long, detector string, partition date, status string, observed double, "
    "expected double, lower double, upper double, score double, p_value double, direction string, "
    "wobble double, baseline_since date, accepted_today boolean, drift_start date, cumulative_effect double, "
    "drift_level double, drift_slope double"
)
_BUCKET = "_mq_bucket"


def score_in_spark(
    history,
    start: np.datetime64,
    end: np.datetime64,
    specs: Sequence[DetectorSpec],
    holiday_days: np.ndarray,
    group_series: int,
    marks=None,
    accept_after_days: int | None = None,
) -> pd.DataFrame:
    """`score_group` over every series of `history` (a Spark or pandas DataFrame), bucket by bucket in Spark."""
    from pyspark.sql import functions as F

    session = None if is_spark_frame(history) else _session()
    frame = history if session is None else session.createDataFrame(history)
    detectors = [spec.build() for spec in specs]
    check_columns(pd.DataFrame(columns=frame.columns), detectors)
    has_denominator = "denominator" in frame.columns
    columns = [
        F.col("series_id").cast("string").alias("series_id"),
        F.to_date("partition").alias("partition"),
        F.col("value").cast("double").alias("value"),
    ]
    if has_denominator:
        columns.append(F.col("denominator").cast("double").alias("denominator"))
    origin, end_date = pd.Timestamp(window_origin(start, detectors)).date(), pd.Timestamp(end).date()
    rows = frame.select(*columns).where(F.col("partition") <= F.lit(end_date))

    # Only rows from `origin` on are shipped to the Python workers. A series whose rows all lie before
    # `origin` still exists (it is "missing" on the scored days), so each series older than `origin`
    # also sends one marker row at its first day, with no value; the pivot reads only its date.
    firsts = rows.groupBy("series_id").agg(F.min("partition").alias("partition")).cache()
    try:
        n_series = firsts.count()
        markers = firsts.where(F.col("partition") < F.lit(origin)).withColumn("value", F.lit(None).cast("double"))
        if has_denominator:
            markers = markers.withColumn("denominator", F.lit(None).cast("double"))
        shipped = rows.where(F.col("partition") >= F.lit(origin)).unionByName(markers)
        buckets = max(math.ceil(n_series / group_series), _parallelism(frame.sparkSession))
        specs = list(specs)

        def score_bucket(bucket: pd.DataFrame) -> pd.DataFrame:
            """Runs on an executor: one bucket of whole series -> RAW_COLUMNS (no FDR)."""
            scored = score_group(bucket.drop(columns=[_BUCKET]), start, end, [s.build() for s in specs],
                                 holiday_days, marks, accept_after_days)
            return scored[RAW_COLUMNS]

        # An explicit repartition by bucket keeps `buckets` tasks (adaptive execution would otherwise
        # coalesce small shuffle partitions into one task and lose the parallelism).
        scored = (
            shipped.withColumn(_BUCKET, F.pmod(F.xxhash64("series_id"), F.lit(buckets)))
            .repartition(buckets, _BUCKET)
            .groupBy(_BUCKET)
            .applyInPandas(score_bucket, schema=RAW_SCHEMA)
        )
        return scored.toPandas()
    finally:
        firsts.unpersist()


def is_spark_frame(history) -> bool:
    """A classic or Spark Connect DataFrame, recognised without importing pyspark."""
    return type(history).__module__.startswith("pyspark.sql") and hasattr(history, "groupBy")


def _session():
    """The session already running (tests, Airflow, `mq`, which hands the detectors a Spark DataFrame)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is None:
        raise ValueError("engine='spark' on a pandas history needs a running SparkSession "
                         "(start one first, or pass a Spark DataFrame)")
    return active


def _parallelism(session) -> int:
    """Cores Spark can use at once (classic sessions), else the shuffle partition count (Spark Connect)."""
    try:
        return max(1, session.sparkContext.defaultParallelism)
    except Exception:  # Spark Connect has no SparkContext
        return max(1, int(session.conf.get("spark.sql.shuffle.partitions", "8")))
