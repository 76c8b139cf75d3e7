"""State-store tables of the alert path (the outbox has its own, in alerting/outbox.py)."""
from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# One row per incident: a fingerprint fires, stays firing over consecutive partitions, then resolves.
alerts = sa.Table(
    "mq_alerts", metadata,
    sa.Column("id", sa.String(64), primary_key=True),               # fingerprint-firstpartition
    sa.Column("fingerprint", sa.String(32), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),              # firing | resolved
    sa.Column("first_partition", sa.Date, nullable=False),
    sa.Column("last_partition", sa.Date, nullable=False),
    sa.Column("resolved_partition", sa.Date),
    sa.Column("first_fired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_fired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("observed", sa.Float), sa.Column("expected", sa.Float),
    sa.Column("lower", sa.Float), sa.Column("upper", sa.Float),
    sa.Column("impact", sa.JSON), sa.Column("root_causes", sa.JSON),
    sa.Column("team", sa.String(100)), sa.Column("table_name", sa.String(200)),
    sa.Column("receiver", sa.String(100)), sa.Column("thread_key", sa.String(500)),
    sa.Column("suppressed", sa.String(300)),                          # why it was not notified, if so
)

# Every decision about every alert candidate, suppressions included; one per fingerprint, partition and
# receiver, which is what makes re-runs and backfills idempotent (and notifies each receiver of a
# `continue: true` route once).
decisions = sa.Table(
    "mq_alert_decisions", metadata,
    sa.Column("fingerprint", sa.String(32), primary_key=True),
    sa.Column("partition", sa.Date, primary_key=True),
    sa.Column("alert_id", sa.String(64)),
    sa.Column("decision", sa.String(32), nullable=False),   # an alerting.decision.Outcome value
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("receiver", sa.String(100), primary_key=True),
    sa.Column("notification_key", sa.String(300)),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
)

# What each alert said for each partition it was decided on, so a restatement (late data: a new pull
# version) that changes the values is seen on the re-run and corrected once; `revision` counts corrections.
alert_values = sa.Table(
    "mq_alert_values", metadata,
    sa.Column("fingerprint", sa.String(32), primary_key=True),
    sa.Column("partition", sa.Date, primary_key=True),
    sa.Column("receiver", sa.String(100), primary_key=True),
    sa.Column("alert_id", sa.String(64), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("breaching", sa.Boolean, nullable=False),
    sa.Column("message", sa.Text),
    sa.Column("observed", sa.Float), sa.Column("expected", sa.Float),
    sa.Column("lower", sa.Float), sa.Column("upper", sa.Float),
)

silences = sa.Table(
    "mq_silences", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("matchers", sa.JSON, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expired_at", sa.DateTime(timezone=True)),
    sa.Column("expired_by", sa.String(200)),
)
