"""Ledger records carry an Ed25519 signature of their hash and the id of the signing key.

`mq_ledger` is created by `ledger.schema.install` (with its guard triggers); a database created before
signatures gets the two nullable columns here. Older records stay unsigned (verify accepts an unsigned
prefix, never an unsigned record after a signed one).

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("mq_ledger"):
        return   # a new database: the ledger's install creates the table with these columns
    have = {c["name"] for c in inspector.get_columns("mq_ledger")}
    if "signature" not in have:
        op.add_column("mq_ledger", sa.Column("signature", sa.String(128), nullable=True))
    if "key_id" not in have:
        op.add_column("mq_ledger", sa.Column("key_id", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("mq_ledger", "key_id")
    op.drop_column("mq_ledger", "signature")
