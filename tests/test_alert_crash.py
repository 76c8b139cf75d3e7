"""Crash safety of the alert path: kill the process at every write of the alert stage (a real SIGKILL
at a crash point, not a mocked database) and show the messages people get equal a clean run's."""
from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa

from tests.alert_chaos import DAYS, final_messages, run_in_process, write_config

KILLED = -9


@pytest.fixture
def seeded_store(tmp_path, migrated_store_url):
    """A function giving an independent copy of one seeded store per attempt (dropped afterwards)."""
    work = tmp_path / "seed"
    work.mkdir()
    url = f"sqlite:///{work / 'state.db'}" if migrated_store_url.startswith("sqlite") else migrated_store_url
    assert run_in_process(write_config(work), url, seed_only=True) == 0
    n, copies = 0, []

    def copy():
        nonlocal n
        n += 1
        dest = tmp_path / f"attempt{n}"
        dest.mkdir()
        if url.startswith("sqlite"):
            for name in ("state.db", "state.db-wal"):   # WAL mode: recent commits live in the -wal file
                if (work / name).exists():
                    shutil.copy(work / name, dest / name)
            return dest, f"sqlite:///{dest / 'state.db'}"
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        source, db = url.rsplit("/", 1)[1], f"{url.rsplit('/', 1)[1]}_{n}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{db}" TEMPLATE "{source}"')
        admin.dispose()
        copies.append(db)
        return dest, url.rsplit("/", 1)[0] + f"/{db}"
    yield copy
    if copies:
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for db in copies:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.dispose()


def test_a_kill_at_any_write_of_the_alert_stage_loses_and_duplicates_nothing(seeded_store):
    copy = seeded_store
    work, url = copy()
    assert run_in_process(write_config(work), url) == 0
    clean = final_messages(work, url)
    # a count anomaly fires on day 1, the freshness alert of day 2 joins its thread as a reply, and the
    # thread resolves once: three messages, each sent exactly once
    assert [key.split("|")[-2] for _r, key, _t, _s in clean["outbox"]] == ["notify", "repeat", "resolve"]
    assert len(clean["sent"]) == len(clean["outbox"]) == 3

    point = 0
    while True:
        point += 1
        work, url = copy()
        config = write_config(work)
        code = run_in_process(config, url, crash_at=f"*:{point}")
        if code == 0:
            break                       # past the last write: every crash point has been tried
        assert code == KILLED, f"crash point {point}: exit code {code}"
        assert run_in_process(config, url) == 0       # the restarted service re-runs every day
        assert final_messages(work, url) == clean, f"after a kill at write {point}"
    assert point > 10                     # the walk went through the whole alert path


def test_a_decision_recorded_without_its_outbox_row_is_recovered(seeded_store):
    """A store written by a run that died between decision and queueing (as before the one-transaction
    stage): the next alert stage finds the decided-but-unqueued alert and queues it."""
    from alerting.outbox import outbox_table

    work, url = seeded_store()
    config = write_config(work)
    assert run_in_process(config, url) == 0
    expected = final_messages(work, url)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:   # the outbox row of day 2's freshness reply never got written
        lost = conn.execute(sa.select(outbox_table.c.key).where(outbox_table.c.key.like(
            f"%|{DAYS[1].isoformat()}"))).scalar_one()
        conn.execute(outbox_table.delete().where(outbox_table.c.key == lost))
    engine.dispose()
    assert run_in_process(config, url) == 0
    after = final_messages(work, url)
    assert [r[1] for r in after["outbox"]] == [r[1] for r in expected["outbox"]]
    assert after["outbox"][[r[1] for r in after["outbox"]].index(lost)][3] == "delivered"
