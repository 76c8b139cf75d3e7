"""Make the configured tables visible to Spark SQL under their config names.

A table is either files (`path`, Hive-partitioned Parquet/ORC/JSON/CSV/Delta) registered as a temp view,
or a catalog table (`table: db.name`) aliased by a temp view. Metric SQL then always reads
`<config name>`, whatever the storage.
"""
from __future__ import annotations

import datetime as dt

from mq.config import Config, TableSpec
from mq.errors import PullError


def register_tables(spark, config: Config) -> None:
    for name, spec in config.tables.items():
        register_table(spark, name, spec, config)


def register_table(spark, name: str, spec: TableSpec, config: Config) -> None:
    if spec.table:
        if not spark.catalog.tableExists(spec.table):
            raise PullError(f"tables.{name}.table: table {spec.table!r} does not exist in the catalog")
        spark.table(spec.table).createOrReplaceTempView(name)
        return
    path = config.resolve(spec.path)
    if not path.exists() and "://" not in spec.path:
        raise PullError(f"tables.{name}.path: {str(path)!r} does not exist")
    try:
        df = spark.read.format(spec.format).option("basePath", str(path)).load(str(path))
    except Exception as exc:  # Spark's AnalysisException: unreadable or empty folder
        raise PullError(f"tables.{name}.path: cannot read {str(path)!r} as {spec.format}: "
                        f"{_first_line(exc)}") from None
    if spec.partition_column not in df.columns:
        raise PullError(f"tables.{name}.partition_column: column {spec.partition_column!r} not found "
                        f"in {str(path)!r} (columns: {', '.join(df.columns)})")
    df.createOrReplaceTempView(name)
    _FILE_FRAMES[name] = df


# File-backed tables keep their DataFrame: a temp view hides the hidden `_metadata` column.
_FILE_FRAMES: dict[str, object] = {}


def partition_files(spark, name: str, spec: TableSpec, partition) -> list[dict] | dict:
    """The files behind a partition and their row counts (completeness evidence).

    `partition` is a date (-> list of {file, rows}) or a (start, end) pair (-> {date: list}). Uses the
    hidden `_metadata` column of file sources; reading row counts only is cheap. No files means the
    partition is missing (or has no rows).
    """
    from pyspark.sql import functions as F

    pc = F.col(spec.partition_column)
    span = partition if isinstance(partition, tuple) else (partition, partition)
    df = _FILE_FRAMES.get(name)
    if df is None:  # a catalog table: no file list, the row count alone
        df, file_col = spark.table(name), F.lit("<catalog table>")
    else:
        file_col = F.col("_metadata.file_path")
    rows = (df.where(pc.between(F.lit(span[0]), F.lit(span[1])))
            .groupBy(pc.alias("partition"), file_col.alias("file")).count().orderBy("partition", "file").collect())
    by_day: dict = {}
    for r in rows:
        day = r["partition"] if isinstance(r["partition"], dt.date) else dt.date.fromisoformat(str(r["partition"]))
        by_day.setdefault(day, []).append({"file": r["file"], "rows": int(r["count"])})
    return by_day if isinstance(partition, tuple) else by_day.get(partition, [])


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
