"""The state store under faults: a killed run's row is closed as abandoned, and a held lock fails a
statement after the lock timeout instead of hanging the run; a SQLite store syncs each commit to disk
unless told otherwise."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from metricstore import MetricStore, make_engine, schema, utcnow

DAY = dt.date(2026, 9, 1)


def test_a_run_left_running_by_a_dead_process_is_closed_as_abandoned(migrated_store_url):
    store = MetricStore(migrated_store_url)
    store.install()
    dead = store.start_run(DAY, "cli", "cfg")
    live = store.start_run(DAY, "cli", "cfg")
    with store.engine.begin() as conn:   # the dead one started yesterday and never finished
        conn.execute(schema.runs.update().where(schema.runs.c.run_id == dead)
                     .values(started_at=utcnow() - dt.timedelta(days=1)))
    assert store.close_stale_runs(dt.timedelta(hours=6)) == 1
    status = dict(zip(store.runs().run_id, store.runs().status))
    assert status == {dead: "abandoned", live: "running"}


def test_a_held_lock_fails_after_the_lock_timeout_instead_of_hanging(migrated_pg_url, monkeypatch):
    monkeypatch.setenv("MQ_DB_LOCK_TIMEOUT_S", "0.5")
    make_engine.cache_clear()
    store = MetricStore(migrated_pg_url)
    store.install()
    holder = sa.create_engine(migrated_pg_url)
    with holder.connect() as conn:
        conn.exec_driver_sql("BEGIN")
        conn.exec_driver_sql("LOCK TABLE mq_runs IN ACCESS EXCLUSIVE MODE")   # a stuck session
        outcome = {}

        def start():
            try:
                store.start_run(DAY, "cli", "cfg")
                outcome["result"] = "started"
            except sa.exc.OperationalError as exc:
                outcome["result"] = str(exc.orig).splitlines()[0]
        worker = threading.Thread(target=start)
        worker.start()
        worker.join(30)
        conn.exec_driver_sql("ROLLBACK")
    holder.dispose()
    make_engine.cache_clear()
    assert not worker.is_alive()
    assert outcome["result"] == "canceling statement due to lock timeout"


def _synchronous(url: str) -> int:
    with make_engine(url).connect() as conn:
        return conn.exec_driver_sql("PRAGMA synchronous").scalar()


def test_a_sqlite_store_syncs_every_commit_unless_told_otherwise(tmp_path, monkeypatch):
    monkeypatch.delenv("MQ_SQLITE_SYNCHRONOUS", raising=False)
    assert _synchronous(f"sqlite:///{tmp_path / 'default.db'}") == 2          # FULL
    monkeypatch.setenv("MQ_SQLITE_SYNCHRONOUS", "normal")
    assert _synchronous(f"sqlite:///{tmp_path / 'throwaway.db'}") == 1        # NORMAL


def test_an_unknown_sqlite_synchronous_level_is_refused_with_its_name_and_value(tmp_path, monkeypatch):
    from core.errors import MqError

    monkeypatch.setenv("MQ_SQLITE_SYNCHRONOUS", "sometimes")
    with pytest.raises(MqError, match=r"MQ_SQLITE_SYNCHRONOUS: 'sometimes' is not one of FULL, NORMAL"):
        make_engine(f"sqlite:///{tmp_path / 'state.db'}")
