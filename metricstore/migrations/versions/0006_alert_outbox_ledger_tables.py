"""The alert book's, the outbox's and the ledger's tables come under the migrations.

Until this revision `AlertBook.install`, `Outbox.install` and `Ledger.install` created their tables
themselves (`create_all`); now every table of the state store is created here and the stores only check
that they are there. A database created by an older version already has some or all of these tables
(with their rows): only the missing ones are created, the others are left as they are. The definitions
are frozen copies of the ones those stores created (alerting/schema.py, alerting/outbox.py,
ledger/schema.py); a later change to a table is a later revision.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

TS = sa.DateTime(timezone=True)
NAIVE_UTC = sa.DateTime()   # the outbox stores naive UTC on every backend (its UTCDateTime type)

_tables = sa.MetaData()

sa.Table(
    "mq_alerts", _tables,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("fingerprint", sa.String(32), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("first_partition", sa.Date, nullable=False),
    sa.Column("last_partition", sa.Date, nullable=False),
    sa.Column("resolved_partition", sa.Date),
    sa.Column("first_fired_at", TS, nullable=False),
    sa.Column("last_fired_at", TS, nullable=False),
    sa.Column("resolved_at", TS),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("observed", sa.Float), sa.Column("expected", sa.Float),
    sa.Column("lower", sa.Float), sa.Column("upper", sa.Float),
    sa.Column("impact", sa.JSON), sa.Column("root_causes", sa.JSON),
    sa.Column("team", sa.String(100)), sa.Column("table_name", sa.String(200)),
    sa.Column("receiver", sa.String(100)), sa.Column("thread_key", sa.String(500)),
    sa.Column("suppressed", sa.String(300)),
)
sa.Table(
    "mq_alert_decisions", _tables,
    sa.Column("fingerprint", sa.String(32), primary_key=True),
    sa.Column("partition", sa.Date, primary_key=True),
    sa.Column("alert_id", sa.String(64)),
    sa.Column("decision", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("receiver", sa.String(100), primary_key=True),
    sa.Column("notification_key", sa.String(300)),
    sa.Column("decided_at", TS, nullable=False),
)
sa.Table(
    "mq_alert_values", _tables,
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
sa.Table(
    "mq_silences", _tables,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("matchers", sa.JSON, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("expired_at", TS),
    sa.Column("expired_by", sa.String(200)),
)
sa.Table(
    "mq_outbox", _tables,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("receiver", sa.String(200), nullable=False),
    sa.Column("key", sa.String(500), nullable=False),
    sa.Column("thread_key", sa.String(500), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", NAIVE_UTC, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("failure_kind", sa.String(16)),
    sa.Column("partial_ref", sa.String(100)),
    sa.Column("claimed_by", sa.String(64)),
    sa.Column("claimed_at", NAIVE_UTC),
    sa.Column("delivery_ref", sa.String(100)),
    sa.Column("created_at", NAIVE_UTC, nullable=False),
    sa.Column("delivered_at", NAIVE_UTC),
    sa.UniqueConstraint("receiver", "key", name="uq_mq_outbox_receiver_key"),
    sa.Index("ix_mq_outbox_due", "status", "next_attempt_at"),
)
sa.Table(
    "mq_outbox_threads", _tables,
    sa.Column("receiver", sa.String(200), primary_key=True),
    sa.Column("thread_key", sa.String(500), primary_key=True),
    sa.Column("thread_ref", sa.String(100), nullable=False),
    sa.Column("updated_at", NAIVE_UTC, nullable=False),
)
sa.Table(
    "mq_ledger", _tables,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=False),
    sa.Column("recorded_at", TS, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("key", sa.String(512), nullable=False, unique=True),
    sa.Column("partition", sa.Date(), nullable=True),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Column("signature", sa.String(128), nullable=True),
    sa.Column("key_id", sa.String(16), nullable=True),
    sa.Index("ix_mq_ledger_kind_partition", "kind", "partition"),
    sa.Index("ix_mq_ledger_partition", "partition"),
)

# The ledger is append-only in the database itself (ledger/schema.py says why); `Ledger.install` re-arms
# these on every start, here they come with the table.
_PG_LEDGER_GUARDS = (
    """CREATE OR REPLACE FUNCTION mq_ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'mq_ledger is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Corrections are new ledger records, never edits.';
END;
$$
""",
    "CREATE OR REPLACE TRIGGER mq_ledger_no_update_delete BEFORE UPDATE OR DELETE ON mq_ledger "
    "FOR EACH ROW EXECUTE FUNCTION mq_ledger_refuse_change()",
    "CREATE OR REPLACE TRIGGER mq_ledger_no_truncate BEFORE TRUNCATE ON mq_ledger "
    "FOR EACH STATEMENT EXECUTE FUNCTION mq_ledger_refuse_change()",
)
_SQLITE_LEDGER_GUARDS = tuple(
    f"CREATE TRIGGER IF NOT EXISTS mq_ledger_no_{op_.lower()} BEFORE {op_} ON mq_ledger "
    f"BEGIN SELECT RAISE(ABORT, 'mq_ledger is append-only: {op_} refused'); END"
    for op_ in ("UPDATE", "DELETE")
)


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    for table in _tables.sorted_tables:
        if table.name not in existing:
            table.create(bind)
    if "mq_ledger" not in existing:
        for statement in _PG_LEDGER_GUARDS if bind.dialect.name == "postgresql" else _SQLITE_LEDGER_GUARDS:
            bind.execute(sa.text(statement))   # text() escapes the % for the driver


def downgrade() -> None:
    # Nothing is dropped: a database of the versions before this revision has these tables too (their
    # stores created them), with rows that must outlive a downgrade.
    pass
