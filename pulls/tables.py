"""Make the configured tables visible to Spark SQL under their config names.

A table is either files (`path`, Hive-partitioned Parquet/ORC/JSON/CSV/Delta) registered as a temp view,
or a catalog table (`table: db.name`) aliased by a temp view. Metric SQL then always reads
`<config name>`, whatever the storage.
"""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import unquote

from core.config import Config, TableSpec
from core.errors import PullError


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
    """The files behind a partition (completeness evidence), from the table's file index.

    `partition` is a date (-> list of {file}) or a (start, end) pair (-> {date: list}). Hive-style
    layouts (`<column>=<value>/` folders) are read off the listing Spark already holds: no data is
    scanned. Other layouts fall back to one scan of the partition column. No files means the partition
    is missing (or empty).
    """
    span = partition if isinstance(partition, tuple) else (partition, partition)
    frame = _FILE_FRAMES.get(name)
    if frame is None:
        frame = spark.table(name)
    try:
        files = frame.inputFiles()
    except Exception:  # not file-based (a view, or Spark Connect without a file index)
        files = []
    folder = re.compile(rf"/{re.escape(spec.partition_column)}=([^/]+)/")
    by_day: dict = {}
    hive = False
    for file in sorted(files):
        match = folder.search(file)
        if not match:
            continue
        hive = True
        try:
            day = dt.date.fromisoformat(unquote(match.group(1))[:10])
        except ValueError:
            continue
        if span[0] <= day <= span[1]:
            by_day.setdefault(day, []).append({"file": file})
    if not hive:
        by_day = _scan_partitions(frame, spec, span)
    return by_day if isinstance(partition, tuple) else by_day.get(partition, [])


def _scan_partitions(frame, spec: TableSpec, span) -> dict:
    from pyspark.sql import functions as F

    pc = F.col(spec.partition_column)
    rows = frame.where(pc.between(F.lit(span[0]), F.lit(span[1]))).groupBy(pc.alias("p")).count().collect()
    out = {}
    for r in rows:
        day = r["p"] if isinstance(r["p"], dt.date) else dt.date.fromisoformat(str(r["p"])[:10])
        out[day] = [{"file": "<not laid out by partition folder>", "rows": int(r["count"])}]
    return out


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
