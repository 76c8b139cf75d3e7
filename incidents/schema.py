"""The incident table (created by metricstore/migrations/versions/0003_incidents.py).

The row is the incident's current state, for listing and the status page; its history is in the
ledger (kind "incident"), one record per transition.
"""
from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)

incidents = sa.Table(
    "mq_incidents", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("thread_key", sa.String(500), nullable=False, unique=True),   # the notified alert group
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),                      # team from routing
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
    sa.Column("version", sa.Integer, nullable=False),          # transitions so far (optimistic locking)
)
