"""The PostgreSQL layout where the role that writes is not the role that owns.

The owner role creates and migrates every table (`mq` run once as the owner, or a deploy step); the
service role then gets SELECT and INSERT on `mq_ledger` only, so it can neither UPDATE/DELETE ledger
rows nor `ALTER TABLE ... DISABLE TRIGGER` (only an owner may), and the usual read/write rights on the
operational tables. Run `grant_service_role` as the owner after every migration that adds a table.
"""
from __future__ import annotations

import re

import sqlalchemy as sa

from ledger.errors import LedgerError
from ledger.schema import TABLE_NAME

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_service_role(owner_engine: sa.Engine, role: str) -> None:
    """Give `role` what the service needs on every `mq_` table, and no more than INSERT on the ledger."""
    if owner_engine.dialect.name != "postgresql":
        raise LedgerError("grant_service_role: roles exist on PostgreSQL only")
    if not _ROLE.match(role):
        raise LedgerError(f"grant_service_role: role must be a plain lower-case identifier (got {role!r})")
    with owner_engine.begin() as conn:
        tables = [t for t in sa.inspect(conn).get_table_names() if t.startswith("mq_")]
        conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        for table in tables:
            conn.exec_driver_sql(f'REVOKE ALL ON "{table}" FROM "{role}"')
            rights = "SELECT, INSERT" if table == TABLE_NAME else "SELECT, INSERT, UPDATE, DELETE"
            conn.exec_driver_sql(f'GRANT {rights} ON "{table}" TO "{role}"')
        conn.exec_driver_sql(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
