"""A drift finding's evidence is kept with its detection: onset, level so far, slope, cumulative effect.

The alert stage reads detections from the store; a drift alert says since when the ratio drifts, how
far it has gone and where it heads at that rate, so the detection row carries them (NULL for every
other finding).

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.add_column("mq_detections", sa.Column("drift", sa.JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("mq_detections", "drift")
