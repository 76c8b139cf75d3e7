"""One writer at a time: the transaction every append runs in.

Reading the head and inserting the next seq must be atomic across processes, or two writers would
both extend the same head and fork the chain. PostgreSQL: a transaction-scoped advisory lock taken
before the head is read, in READ COMMITTED so the reads after the lock see the previous writer's
commit. SQLite: BEGIN IMMEDIATE, which takes the database write lock before the first read.
The primary key on seq and the unique key column remain as a backstop if anything bypasses this.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa

from ledger.schema import ADVISORY_LOCK_ID, dialect_of


@contextlib.contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """Yield a connection holding the ledger's write lock; commit on success, roll back on error."""
    if dialect_of(engine) == "postgresql":
        with engine.connect().execution_options(isolation_level="READ COMMITTED") as conn, conn.begin():
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})
            yield conn
        return
    # pysqlite would otherwise open a deferred transaction on the first write, after our head read;
    # in AUTOCOMMIT mode the driver leaves transaction control to us.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            # Keep the original error: SQLite may already have rolled back on its own.
            with contextlib.suppress(sa.exc.DBAPIError):
                conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")
