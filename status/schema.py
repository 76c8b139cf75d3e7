"""The certification table (created by metricstore/migrations/versions/0003_incidents.py).

One row per certification of a subject's partition at given pull versions; a late-data restatement
(a new pull version) revokes it. The ledger holds the same events (kinds "certification",
"certification_revoked").
"""
from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

certifications = sa.Table(
    "mq_certifications", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subject", sa.String(200), nullable=False),       # metric or pair
    sa.Column("partition", sa.Date, nullable=False),
    sa.Column("pull_versions", sa.String(500), nullable=False),  # "table=version,..." the data certified
    sa.Column("certified_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_reason", sa.Text),
    sa.UniqueConstraint("subject", "partition", "pull_versions", name="uq_certification"),
    sa.Index("ix_certifications_partition", "partition"),
)
