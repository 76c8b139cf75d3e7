"""One SQLAlchemy engine per state-store URL (SQLite file by default, PostgreSQL in production)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from mq.errors import MqError


@lru_cache(maxsize=16)
def make_engine(url: str) -> sa.Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # WAL lets readers run beside the one writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":  # prefer psycopg 3 over the psycopg2 default
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return sa.create_engine(url, pool_pre_ping=True)
    raise MqError(f"state_store.url: unsupported database {parsed.get_backend_name()!r} "
                  "(use sqlite:///path.db or postgresql://user@host/db)")
