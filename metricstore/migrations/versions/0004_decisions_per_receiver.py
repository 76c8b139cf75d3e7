"""Alert decisions are kept per receiver: the key of `mq_alert_decisions` gains `receiver`.

A `continue: true` route sends an alert to several receivers; with one decision per fingerprint and
partition only the first was ever notified. `mq_alert_decisions` is created by the alert book's
install; a database created before this revision has it with the old key, so the table is rebuilt
with the new one (receiver NOT NULL; a decision without one was the default receiver, `local`).

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

TABLE = "mq_alert_decisions"
COLUMNS = "fingerprint, partition, alert_id, decision, reason, receiver, notification_key, decided_at"


def _table(name: str, key: tuple[str, ...]) -> None:
    op.create_table(
        name,
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("partition", sa.Date, nullable=False),
        sa.Column("alert_id", sa.String(64)),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("receiver", sa.String(100), nullable="receiver" not in key),
        sa.Column("notification_key", sa.String(300)),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(*key, name=f"{name}_pkey"))


def _rebuild(key: tuple[str, ...], receiver: str) -> None:
    if not sa.inspect(op.get_bind()).has_table(TABLE):
        return   # a new database: the alert book's install creates the table with the current key
    _table(f"{TABLE}_new", key)
    op.execute(f"INSERT INTO {TABLE}_new ({COLUMNS}) SELECT fingerprint, partition, alert_id, decision, "
               f"reason, {receiver}, notification_key, decided_at FROM {TABLE}")
    op.drop_table(TABLE)
    op.rename_table(f"{TABLE}_new", TABLE)


def upgrade() -> None:
    _rebuild(("fingerprint", "partition", "receiver"), "COALESCE(receiver, 'local')")


def downgrade() -> None:
    _rebuild(("fingerprint", "partition"), "receiver")
