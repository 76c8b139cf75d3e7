"""Incidents (workflow state) and certifications of metric partitions.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mq_incidents",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("thread_key", sa.String(500), nullable=False, unique=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("receiver", sa.String(100)),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_partition", sa.Date, nullable=False, index=True),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("acknowledged_at", TS), sa.Column("acknowledged_by", sa.String(200)),
        sa.Column("assignee", sa.String(200)),
        sa.Column("resolved_at", TS), sa.Column("resolved_by", sa.String(200)), sa.Column("resolution", sa.Text),
        sa.Column("signed_off_at", TS), sa.Column("signed_off_by", sa.String(200)),
        sa.Column("disposition", sa.String(32)), sa.Column("signoff_note", sa.Text),
        sa.Column("version", sa.Integer, nullable=False))
    op.create_table(
        "mq_certifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("partition", sa.Date, nullable=False),
        sa.Column("pull_versions", sa.String(500), nullable=False),
        sa.Column("certified_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
        sa.Column("revoked_reason", sa.Text),
        sa.UniqueConstraint("subject", "partition", "pull_versions", name="uq_certification"))
    op.create_index("ix_certifications_partition", "mq_certifications", ["partition"])


def downgrade() -> None:
    op.drop_index("ix_certifications_partition", "mq_certifications")
    op.drop_table("mq_certifications")
    op.drop_table("mq_incidents")
