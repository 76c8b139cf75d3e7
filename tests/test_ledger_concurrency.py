"""Concurrent writers keep one gapless chain and record each key once."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from ledger import Ledger
from metricstore.engine import make_engine
from conftest import migrated

THREADS = 8
OWN_KEYS_PER_THREAD = 25
SHARED_KEYS = 10  # every thread appends these too, as overlapping re-runs would


def hammer(url: str) -> tuple[Ledger, list]:
    # SQLite through the product's engine (WAL, its busy timeout): the writers queue as a run's would.
    engine = migrated(make_engine(url) if url.startswith("sqlite") else
                      sa.create_engine(url, pool_size=THREADS, max_overflow=0))
    ledger = Ledger(engine)
    ledger.install()
    start = threading.Barrier(THREADS)

    def writer(thread_no: int) -> list:
        start.wait()
        results = []
        for n in range(OWN_KEYS_PER_THREAD):
            results.append(ledger.append("pull", f"pull:t{thread_no}:{n}", {"thread": thread_no, "n": n}))
            shared = (n + thread_no) % SHARED_KEYS
            results.append(ledger.append("run", f"run:shared:{shared}", {"first_writer": thread_no}))
        return results

    with ThreadPoolExecutor(THREADS) as pool:
        appended = [rec for batch in pool.map(writer, range(THREADS)) for rec in batch]
    return ledger, appended


def check_hammered(ledger: Ledger, appended: list) -> None:
    expected = THREADS * OWN_KEYS_PER_THREAD + SHARED_KEYS
    stored = ledger.records()

    assert ledger.verify().ok and ledger.verify().count == expected
    assert [r.seq for r in stored] == list(range(1, expected + 1))
    assert len({r.key for r in stored}) == expected
    created = [r for r in appended if r.created]
    assert sorted(r.seq for r in created) == list(range(1, expected + 1))
    # Every caller of a shared key got the one stored record back, whoever wrote it.
    by_key = {r.key: r for r in stored}
    assert all(r.hash == by_key[r.key].hash for r in appended)


def test_eight_threads_appending_to_postgresql_keep_one_valid_chain(migrated_pg_url):
    ledger, appended = hammer(migrated_pg_url)
    check_hammered(ledger, appended)
    ledger.engine.dispose()


def test_eight_threads_appending_to_sqlite_keep_one_valid_chain(sqlite_url):
    ledger, appended = hammer(sqlite_url)
    check_hammered(ledger, appended)
    ledger.engine.dispose()


def test_concurrent_installs_on_postgresql_do_not_collide(pg_url):
    installers = 4
    engine = sa.create_engine(pg_url, pool_size=installers, max_overflow=0)
    start = threading.Barrier(installers)

    def install(_: int) -> None:
        start.wait()
        migrated(engine)   # every process starting at once applies the migrations, then installs
        Ledger(engine).install()

    with ThreadPoolExecutor(installers) as pool:
        list(pool.map(install, range(installers)))
    ledger = Ledger(engine)
    assert ledger.append("run", "run:1", {}).seq == 1
    engine.dispose()
