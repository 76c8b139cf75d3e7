"""The metric store's first schema: runs, pulls, versioned metric points, check results, detections.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mq_runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("partition", sa.Date, nullable=False, index=True),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("summary", sa.JSON))
    op.create_table(
        "mq_pulls",
        sa.Column("pull_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64)),
        sa.Column("table_name", sa.String(200), nullable=False),
        sa.Column("partition", sa.Date, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("row_count", sa.BigInteger),
        sa.Column("input_files", sa.JSON),
        sa.Column("sql_text", sa.Text),
        sa.Column("sql_hash", sa.String(64)),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("spark_app_id", sa.String(200)),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("table_name", "partition", "version", name="uq_pull_version"))
    op.create_table(
        "mq_metric_points",
        sa.Column("metric", sa.String(200), primary_key=True),
        sa.Column("slice_key", sa.String(500), primary_key=True),
        sa.Column("partition", sa.Date, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("grouping", sa.String(500), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("pull_id", sa.Integer))
    op.create_index("ix_points_metric_partition", "mq_metric_points", ["metric", "partition"])
    op.create_table(
        "mq_check_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("suite", sa.String(200), nullable=False),
        sa.Column("table_name", sa.String(200), nullable=False),
        sa.Column("partition", sa.Date, nullable=False),
        sa.Column("suite_hash", sa.String(64), nullable=False),
        sa.Column("result_hash", sa.String(64), nullable=False),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("recorded_at", TS, nullable=False),
        sa.UniqueConstraint("suite", "partition", "suite_hash", "result_hash", name="uq_check_result"))
    op.create_table(
        "mq_detections",
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("slice_key", sa.String(500), primary_key=True),
        sa.Column("partition", sa.Date, primary_key=True),
        sa.Column("detector", sa.String(100), primary_key=True),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        *(sa.Column(c, sa.Float) for c in ("observed", "expected", "lower", "upper", "score", "p_value",
                                           "q_value")),
        sa.Column("direction", sa.String(8)),
        sa.Column("run_id", sa.String(64)))


def downgrade() -> None:
    for table in ("mq_detections", "mq_check_results", "mq_metric_points", "mq_pulls", "mq_runs"):
        op.drop_table(table)
