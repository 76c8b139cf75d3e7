"""One SQLAlchemy engine per state-store URL (SQLite file by default, PostgreSQL in production)."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.errors import MqError


@lru_cache(maxsize=16)
def make_engine(url: str) -> sa.Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        busy = float(os.environ.get("MQ_DB_LOCK_TIMEOUT_S", "60"))
        engine = sa.create_engine(url, connect_args={"timeout": busy})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # WAL lets readers run beside the one writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
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
