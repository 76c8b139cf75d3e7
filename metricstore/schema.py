"""Tables of the metric store (SQLAlchemy Core; SQLite by default, PostgreSQL in production).

- `mq_runs`: one row per execution of a run for a partition (operational log).
- `mq_pulls`: one row per pull of a table partition with its completeness evidence. A re-pull whose
  content is unchanged writes nothing; a changed partition (late data) gets `version + 1`.
- `mq_metric_points`: one value per metric, slice and partition *version*; old versions are kept.
- `mq_check_results`: expectation-suite results per table partition and suite version.
- `mq_detections`: the latest detector verdict per subject (metric or pair), slice, partition, detector.
"""
from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

runs = sa.Table(
    "mq_runs", metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("partition", sa.Date, nullable=False, index=True),
    sa.Column("trigger", sa.String(32), nullable=False),          # cli, backfill, airflow
    sa.Column("config_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),           # running, success, partial, failed, abandoned
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("summary", sa.JSON),
)

pulls = sa.Table(
    "mq_pulls", metadata,
    sa.Column("pull_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64)),
    sa.Column("table_name", sa.String(200), nullable=False),
    sa.Column("partition", sa.Date, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),           # ok, missing, error
    sa.Column("row_count", sa.BigInteger),
    sa.Column("input_files", sa.JSON),                             # [{"file": ..., "rows": ...}]
    sa.Column("sql_text", sa.Text),
    sa.Column("sql_hash", sa.String(64)),
    sa.Column("content_hash", sa.String(64)),
    sa.Column("spark_app_id", sa.String(200)),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("error", sa.Text),
    sa.Column("dimension_values", sa.JSON),                        # {dimension: distinct values seen}
    sa.UniqueConstraint("table_name", "partition", "version", name="uq_pull_version"),
)

metric_points = sa.Table(
    "mq_metric_points", metadata,
    sa.Column("metric", sa.String(200), primary_key=True),
    sa.Column("slice_key", sa.String(500), primary_key=True),
    sa.Column("partition", sa.Date, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("grouping", sa.String(500), nullable=False),        # dimensions of the slice, comma-joined
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("pull_id", sa.Integer),
    sa.Index("ix_points_metric_partition", "metric", "partition"),
)

check_results = sa.Table(
    "mq_check_results", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("suite", sa.String(200), nullable=False),
    sa.Column("table_name", sa.String(200), nullable=False),
    sa.Column("partition", sa.Date, nullable=False),
    sa.Column("suite_hash", sa.String(64), nullable=False),
    sa.Column("result_hash", sa.String(64), nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("suite", "partition", "suite_hash", "result_hash", name="uq_check_result"),
)

detections = sa.Table(
    "mq_detections", metadata,
    sa.Column("subject", sa.String(200), primary_key=True),       # metric or pair name
    sa.Column("slice_key", sa.String(500), primary_key=True),
    sa.Column("partition", sa.Date, primary_key=True),
    sa.Column("detector", sa.String(100), primary_key=True),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("observed", sa.Float), sa.Column("expected", sa.Float),
    sa.Column("lower", sa.Float), sa.Column("upper", sa.Float),
    sa.Column("score", sa.Float), sa.Column("p_value", sa.Float), sa.Column("q_value", sa.Float),
    sa.Column("direction", sa.String(8)),
    sa.Column("run_id", sa.String(64)),
    # A drift finding's onset, level so far and slope (relative), cumulative effect; NULL otherwise.
    sa.Column("drift", sa.JSON),
)
