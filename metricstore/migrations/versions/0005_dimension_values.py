"""Pulls record how many distinct values each dimension had (the cardinality guard's evidence).

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("mq_pulls", sa.Column("dimension_values", sa.JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("mq_pulls", "dimension_values")
