"""Tampering with stored ledger rows, as a database superuser could, and the ledger catching it.

Each case edits the table with raw SQL (on PostgreSQL after `DISABLE TRIGGER USER`, on SQLite after
dropping the guard triggers), then checks that `verify()` fails and names the first bad seq.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json

import pytest
import sqlalchemy as sa

from ledger import Ledger
from conftest import migrated

RECORDS = 5


@pytest.fixture
def engine(migrated_store_url):
    engine = sa.create_engine(migrated_store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def ledger(engine):
    return seeded_ledger(engine)


def seeded_ledger(engine) -> Ledger:
    lg = Ledger(migrated(engine))
    lg.install()
    for n in range(1, RECORDS + 1):
        lg.append("check", f"check:orders:{n}", {"n": n, "passed": True}, partition=dt.date(2024, 5, n))
    assert lg.verify().ok
    return lg


@contextlib.contextmanager
def guards_off(engine):
    """Remove the append-only guards for the duration of a tampering session, then restore them."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE mq_ledger DISABLE TRIGGER USER")
        try:
            yield
        finally:
            with engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE mq_ledger ENABLE TRIGGER USER")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER mq_ledger_no_update")
            conn.exec_driver_sql("DROP TRIGGER mq_ledger_no_delete")
        try:
            yield
        finally:
            Ledger(engine).install()


def tamper(engine, *statements: str, params: dict | None = None) -> None:
    with guards_off(engine), engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement), params or {})


def forged_hash(seq, recorded_at, kind, key, partition, payload_json, prev_hash) -> str:
    """A forger who knows the documented hash format."""
    packed = [seq, recorded_at, kind, key, partition, payload_json, prev_hash]
    return hashlib.sha256(json.dumps(packed, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def hash_of(engine, seq: int) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT hash FROM mq_ledger WHERE seq = :s"), {"s": seq}).scalar_one()


def test_edited_payload_is_a_hash_mismatch_at_that_seq(engine, ledger):
    tamper(engine, "UPDATE mq_ledger SET payload = :p WHERE seq = 3", params={"p": '{"n":3,"passed":false}'})

    result = ledger.verify()

    assert (result.ok, result.first_bad_seq, result.count) == (False, 3, RECORDS)
    assert "hash mismatch" in result.problem


@pytest.mark.parametrize(
    ("column", "value"),
    [("kind", "signoff"), ("key", "check:orders:other"), ("partition", dt.date(2024, 6, 1)),
     ("recorded_at", dt.datetime(2020, 1, 1, tzinfo=dt.UTC))],
)
def test_any_edited_field_is_a_hash_mismatch(engine, ledger, column, value):
    tamper(engine, f"UPDATE mq_ledger SET {column} = :v WHERE seq = 2", params={"v": value})

    result = ledger.verify()

    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert "hash mismatch" in result.problem


def test_edit_with_recomputed_hash_breaks_the_link_of_the_next_record(engine, ledger):
    rec = ledger.get("check:orders:3")
    payload_json = '{"n":3,"passed":false}'
    new_hash = forged_hash(3, rec.recorded_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), rec.kind, rec.key,
                           rec.partition.isoformat(), payload_json, rec.prev_hash)
    tamper(engine, "UPDATE mq_ledger SET payload = :p, hash = :h WHERE seq = 3",
           params={"p": payload_json, "h": new_hash})

    result = ledger.verify()

    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "broken link" in result.problem and "seq 3" in result.problem


def test_deleted_middle_record_is_a_gap_at_its_seq(engine, ledger):
    tamper(engine, "DELETE FROM mq_ledger WHERE seq = 3")

    result = ledger.verify()

    assert (result.ok, result.first_bad_seq, result.count) == (False, 3, RECORDS - 1)
    assert "gap in seq" in result.problem


def test_deleted_first_record_is_a_gap_at_seq_1(engine, ledger):
    tamper(engine, "DELETE FROM mq_ledger WHERE seq = 1")

    result = ledger.verify()

    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert "gap in seq" in result.problem


@pytest.mark.parametrize(
    "expectation",
    ["head", "count", "head_and_count"],
)
def test_deleted_last_record_is_caught_against_the_head_from_an_earlier_report(engine, ledger, expectation):
    reported = ledger.verify()  # what an audit report printed: count and head hash
    tamper(engine, f"DELETE FROM mq_ledger WHERE seq = {RECORDS}")
    kwargs = {
        "head": {"expected_head": reported.head_hash},
        "count": {"expected_count": reported.count},
        "head_and_count": {"expected_head": reported.head_hash, "expected_count": reported.count},
    }[expectation]

    result = ledger.verify(**kwargs)

    assert (result.ok, result.first_bad_seq, result.count) == (False, RECORDS, RECORDS - 1)
    assert "head moved" in result.problem
    # Without the earlier head, a truncated chain is indistinguishable from a shorter honest one.
    assert ledger.verify().ok


def test_ledger_that_grew_since_the_report_still_matches_its_head(ledger):
    reported = ledger.verify()
    ledger.append("signoff", "signoff:2024-05", {"by": "controller"})

    grown = ledger.verify(expected_head=reported.head_hash, expected_count=reported.count)

    assert grown.ok and grown.count == RECORDS + 1
    assert ledger.verify(expected_head=reported.head_hash).ok


def test_rewritten_head_with_the_same_count_is_caught(engine, ledger):
    reported = ledger.verify()
    tamper(engine, "UPDATE mq_ledger SET payload = :p WHERE seq = :s", params={"p": '{"n":5}', "s": RECORDS})
    result = ledger.verify(expected_head=reported.head_hash, expected_count=reported.count)
    assert (result.ok, result.first_bad_seq) == (False, RECORDS)


def test_swapped_records_are_caught_at_the_lower_seq(engine, ledger):
    tamper(
        engine,
        "UPDATE mq_ledger SET seq = -1 WHERE seq = 2",
        "UPDATE mq_ledger SET seq = 2 WHERE seq = 4",
        "UPDATE mq_ledger SET seq = 4 WHERE seq = -1",
    )

    result = ledger.verify()

    assert (result.ok, result.first_bad_seq, result.count) == (False, 2, RECORDS)
    assert "hash mismatch" in result.problem


def test_swapped_neighbours_are_caught(engine, ledger):
    tamper(
        engine,
        "UPDATE mq_ledger SET seq = -1 WHERE seq = 3",
        "UPDATE mq_ledger SET seq = 3 WHERE seq = 4",
        "UPDATE mq_ledger SET seq = 4 WHERE seq = -1",
    )

    result = ledger.verify()

    assert (result.ok, result.first_bad_seq) == (False, 3)


INSERT_FORGED = (
    "INSERT INTO mq_ledger (seq, recorded_at, kind, key, partition, payload, prev_hash, hash) "
    "VALUES (:seq, :at, 'signoff', 'signoff:forged', NULL, '{}', :prev, :hash)"
)
FORGED_AT = dt.datetime(2024, 5, 31, 12, 0, tzinfo=dt.UTC)


def test_forged_record_at_the_end_is_a_hash_mismatch(engine, ledger):
    tamper(engine, INSERT_FORGED, params={"seq": RECORDS + 1, "at": FORGED_AT,
                                          "prev": hash_of(engine, RECORDS), "hash": "f" * 64})

    result = ledger.verify()

    assert (result.ok, result.first_bad_seq, result.count) == (False, RECORDS + 1, RECORDS + 1)
    assert "hash mismatch" in result.problem


def test_forged_record_in_the_middle_is_caught(engine, ledger):
    # Shift seq 3..5 up by one (in two steps: the primary key is checked row by row).
    tamper(
        engine,
        "UPDATE mq_ledger SET seq = seq + 1000 WHERE seq >= 3",
        "UPDATE mq_ledger SET seq = seq - 999 WHERE seq >= 1000",
        INSERT_FORGED,
        params={"seq": 3, "at": FORGED_AT, "prev": hash_of(engine, 2), "hash": "a" * 64},
    )

    result = ledger.verify()

    assert (result.ok, result.first_bad_seq, result.count) == (False, 3, RECORDS + 1)


def test_well_forged_record_in_the_middle_is_caught_at_the_displaced_record(engine, ledger):
    prev = hash_of(engine, 2)
    good_forgery = forged_hash(3, FORGED_AT.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "signoff", "signoff:forged",
                               None, "{}", prev)
    tamper(
        engine,
        "UPDATE mq_ledger SET seq = seq + 1000 WHERE seq >= 3",
        "UPDATE mq_ledger SET seq = seq - 999 WHERE seq >= 1000",
        INSERT_FORGED,
        params={"seq": 3, "at": FORGED_AT, "prev": prev, "hash": good_forgery},
    )

    result = ledger.verify()

    # The forgery itself is self-consistent; the record it pushed from seq 3 to 4 no longer is.
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "hash mismatch" in result.problem


def test_only_the_first_problem_is_named(engine, ledger):
    tamper(engine, "DELETE FROM mq_ledger WHERE seq = 4", "UPDATE mq_ledger SET payload = :p WHERE seq = 2",
           params={"p": '{"n":2}'})
    result = ledger.verify()
    assert (result.first_bad_seq, result.count) == (2, RECORDS - 1)
    assert "hash mismatch" in result.problem


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE mq_ledger SET payload = '{}' WHERE seq = 3",
        "UPDATE mq_ledger SET seq = seq + 100",
        "DELETE FROM mq_ledger WHERE seq = 5",
        "DELETE FROM mq_ledger",
    ],
)
def test_database_refuses_update_and_delete(engine, ledger, statement):
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(sa.text(statement))

    result = ledger.verify()
    assert (result.ok, result.count) == (True, RECORDS)


def test_postgresql_refuses_truncate(migrated_pg_url):
    engine = sa.create_engine(migrated_pg_url)
    ledger = seeded_ledger(engine)
    with pytest.raises(sa.exc.DBAPIError, match="append-only: TRUNCATE refused"):
        with engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE mq_ledger")
    assert ledger.verify().count == RECORDS
    engine.dispose()


def test_guards_are_back_after_reinstall(engine, ledger):
    tamper(engine, "DELETE FROM mq_ledger WHERE seq = 5")  # guards are restored on the way out
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM mq_ledger WHERE seq = 4"))
    assert [r.seq for r in ledger.records()] == [1, 2, 3, 4]


def test_install_re_arms_guards_a_superuser_left_disabled(migrated_pg_url):
    engine = sa.create_engine(migrated_pg_url)
    ledger = seeded_ledger(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE mq_ledger DISABLE TRIGGER USER")

    ledger.install()

    with pytest.raises(sa.exc.DBAPIError, match="append-only: DELETE refused"):
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM mq_ledger WHERE seq = 1")
    assert ledger.verify().count == RECORDS
    engine.dispose()
