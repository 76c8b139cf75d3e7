"""The `mq_ledger` table and the database-level guards that make it append-only.

The application never updates or deletes a ledger row, but SOX evidence must not depend on the
application behaving: on PostgreSQL, triggers refuse UPDATE, DELETE and TRUNCATE. A table's owner can
disable its triggers, so in production the service connects as a role that does not own the table and
holds only SELECT and INSERT on it (ledger/roles.py); what an owner or superuser still can do is exposed
by the signatures and the anchors outside the database (ledger/signing.py, ledger/anchor.py). SQLite gets
the same refusal for UPDATE and DELETE, so both backends behave alike in tests and in development.
"""
from __future__ import annotations

import sqlalchemy as sa

from core.tables import require_tables
from ledger.errors import LedgerError, LedgerNotInstalledError
from ledger.record import MAX_KEY_LENGTH, MAX_KIND_LENGTH

TABLE_NAME = "mq_ledger"

metadata = sa.MetaData()

ledger_table = sa.Table(
    TABLE_NAME,
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(MAX_KIND_LENGTH), nullable=False),
    sa.Column("key", sa.String(MAX_KEY_LENGTH), nullable=False, unique=True),
    sa.Column("partition", sa.Date(), nullable=True),
    # Text, not JSON/JSONB: the hash covers these exact bytes, and JSONB would re-order and re-format them.
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    # Ed25519 signature of `hash` by a key kept outside the database (ledger/signing.py); migration 0002
    sa.Column("signature", sa.String(128), nullable=True),
    sa.Column("key_id", sa.String(16), nullable=True),
    sa.Index("ix_mq_ledger_kind_partition", "kind", "partition"),
    sa.Index("ix_mq_ledger_partition", "partition"),
)

SUPPORTED_DIALECTS = ("postgresql", "sqlite")

# One fixed advisory-lock id for every writer of this table (any 64-bit constant works; this one
# spells "mqledger" in ASCII so it is recognisable in pg_locks).
ADVISORY_LOCK_ID = int.from_bytes(b"mqledger", "big", signed=True)

_PG_GUARD_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {TABLE_NAME}_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{TABLE_NAME} is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Corrections are new ledger records, never edits.';
END;
$$
"""

_PG_GUARD_TRIGGERS = (
    f"CREATE OR REPLACE TRIGGER {TABLE_NAME}_no_update_delete BEFORE UPDATE OR DELETE ON {TABLE_NAME} "
    f"FOR EACH ROW EXECUTE FUNCTION {TABLE_NAME}_refuse_change()",
    f"CREATE OR REPLACE TRIGGER {TABLE_NAME}_no_truncate BEFORE TRUNCATE ON {TABLE_NAME} "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE_NAME}_refuse_change()",
)

_SQLITE_GUARD_TRIGGERS = tuple(
    f"CREATE TRIGGER IF NOT EXISTS {TABLE_NAME}_no_{op.lower()} BEFORE {op} ON {TABLE_NAME} "
    f"BEGIN SELECT RAISE(ABORT, '{TABLE_NAME} is append-only: {op} refused'); END"
    for op in ("UPDATE", "DELETE")
)


def dialect_of(engine: sa.Engine) -> str:
    """The engine's dialect name, refused early if the ledger cannot guarantee its properties there."""
    name = engine.dialect.name
    if name not in SUPPORTED_DIALECTS:
        raise LedgerError(
            f"ledger: database dialect {name!r} is not supported (supported: {', '.join(SUPPORTED_DIALECTS)})"
        )
    return name


def install(engine: sa.Engine) -> None:
    """Check that the table is there (the state store's migrations create it, with its guards) and re-arm
    guard triggers that were dropped or disabled; safe to run again and from several processes."""
    dialect = dialect_of(engine)
    with engine.begin() as conn:
        if dialect == "postgresql":
            # Concurrent CREATE OR REPLACE of the guards can collide in the catalog; serialise installers.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})
        require_tables(conn, [TABLE_NAME], "ledger", LedgerNotInstalledError)
        if dialect == "postgresql":
            if not _pg_guards_installed(conn):
                # Only when missing: the service role (not the owner) may not replace them, and need not.
                conn.execute(sa.text(_PG_GUARD_FUNCTION))  # text() escapes the % for the driver
                for statement in _PG_GUARD_TRIGGERS:
                    conn.exec_driver_sql(statement)
        else:
            for statement in _SQLITE_GUARD_TRIGGERS:
                conn.exec_driver_sql(statement)


def _pg_guards_installed(conn: sa.Connection) -> bool:
    found = conn.exec_driver_sql(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = %(t)s::regclass AND tgname = ANY(%(names)s) "
        "AND tgenabled <> 'D'",  # a disabled guard counts as missing: install re-arms it
        {"t": TABLE_NAME, "names": [f"{TABLE_NAME}_no_update_delete", f"{TABLE_NAME}_no_truncate"]}).scalar_one()
    return found == 2
