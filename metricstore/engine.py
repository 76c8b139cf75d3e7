"""One SQLAlchemy engine per state-store URL (SQLite file by default, PostgreSQL in production)."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.errors import MqError


# SQLite's `synchronous` levels (https://www.sqlite.org/pragma.html#pragma_synchronous). FULL, SQLite's
# default, syncs the WAL to disk at every commit, so a committed run survives a power loss. NORMAL
# syncs at checkpoints only: in WAL mode the file stays consistent and a crashed process loses nothing
# committed, but a power loss can drop the last commits (https://www.sqlite.org/wal.html#performance);
# it suits a throw-away store (a trial run, a test) where each commit's sync costs more than the write.
SQLITE_SYNCHRONOUS = ("FULL", "NORMAL")


def sqlite_synchronous() -> str:
    """`MQ_SQLITE_SYNCHRONOUS` (FULL unless set), checked against SQLITE_SYNCHRONOUS."""
    raw = os.environ.get("MQ_SQLITE_SYNCHRONOUS", "FULL")
    value = raw.strip().upper()
    if value not in SQLITE_SYNCHRONOUS:
        raise MqError(f"environment variable MQ_SQLITE_SYNCHRONOUS: {raw!r} is not one of "
                      f"{', '.join(SQLITE_SYNCHRONOUS)}")
    return value


@lru_cache(maxsize=16)
def make_engine(url: str) -> sa.Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        busy = float(os.environ.get("MQ_DB_LOCK_TIMEOUT_S", "60"))
        synchronous = sqlite_synchronous()
        engine = sa.create_engine(url, connect_args={"timeout": busy})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # WAL lets readers run beside the one writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.close()
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":  # prefer psycopg 3 over the psycopg2 default
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        # A lock held elsewhere (a stuck session, a migration) fails the statement after
        # MQ_DB_LOCK_TIMEOUT_S instead of hanging the run; a runaway query after MQ_DB_STATEMENT_TIMEOUT_S.
        lock_ms = int(float(os.environ.get("MQ_DB_LOCK_TIMEOUT_S", "120")) * 1000)
        statement_ms = int(float(os.environ.get("MQ_DB_STATEMENT_TIMEOUT_S", "1800")) * 1000)
        options = f"-c lock_timeout={lock_ms} -c statement_timeout={statement_ms}"
        return sa.create_engine(url, pool_pre_ping=True, connect_args={"options": options})
    raise MqError(f"state_store.url: unsupported database {parsed.get_backend_name()!r} "
                  "(use sqlite:///path.db or postgresql://user@host/db)")
