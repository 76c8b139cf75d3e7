"""Appending, reading and idempotency of the audit ledger, on SQLite and PostgreSQL."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json

import pytest
import sqlalchemy as sa

from ledger import GENESIS_HASH, Ledger, LedgerEntryError, LedgerNotInstalledError
from mq.errors import LedgerError
from conftest import migrated


@pytest.fixture
def ledger(migrated_store_url):
    engine = migrated(migrated_store_url)
    lg = Ledger(engine)
    lg.install()
    yield lg
    engine.dispose()


def documented_hash(rec) -> str:
    """The hash as the ledger documents it, computed independently of the ledger's code (an auditor's view)."""
    packed = [
        rec.seq,
        rec.recorded_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        rec.kind,
        rec.key,
        rec.partition.isoformat() if rec.partition else None,
        json.dumps(rec.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        rec.prev_hash,
    ]
    return hashlib.sha256(json.dumps(packed, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def test_records_form_a_chain_from_genesis(ledger):
    first = ledger.append("run", "run:2024-05-01", {"dag": "daily", "try": 1}, partition=dt.date(2024, 5, 1))
    second = ledger.append("check", "check:orders:2024-05-01", {"passed": False, "ratio": 0.93})

    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH == "0" * 64
    assert second.prev_hash == first.hash
    assert first.hash == documented_hash(first) and second.hash == documented_hash(second)
    assert first.created and second.created
    assert first.recorded_at.tzinfo is not None and first.recorded_at.utcoffset() == dt.timedelta(0)


def test_stored_record_reads_back_exactly_as_appended(ledger):
    payload = {"z": [1, 2.5, None], "a": {"nested": "naïve ✓"}, "count": 10**15}
    appended = ledger.append("pull", "pull:orders:2024-05-01", payload, partition=dt.date(2024, 5, 1))

    stored = ledger.get("pull:orders:2024-05-01")

    assert stored == dataclasses.replace(appended, created=False)
    assert stored.payload == payload
    assert stored.hash == documented_hash(stored)


def test_same_key_twice_records_once_and_returns_the_original(ledger):
    original = ledger.append("alert_decision", "alert:orders:2024-05-01", {"decision": "sent"})
    rerun = ledger.append("alert_decision", "alert:orders:2024-05-01", {"decision": "suppressed"})

    assert rerun.created is False
    assert (rerun.seq, rerun.hash, rerun.payload) == (original.seq, original.hash, {"decision": "sent"})
    assert len(ledger.records()) == 1
    assert ledger.verify().count == 1


def test_get_unknown_key_is_none(ledger):
    ledger.append("run", "run:1", {})
    assert ledger.get("run:2") is None


def test_records_filter_by_kind_and_partition_range(ledger):
    days = [dt.date(2024, 5, d) for d in (1, 2, 3, 4)]
    for day in days:
        ledger.append("check", f"check:{day}", {"day": day.isoformat()}, partition=day)
        ledger.append("pull", f"pull:{day}", {}, partition=day)
    ledger.append("config_change", "config:v2", {"by": "ops"})  # concerns no date

    checks = ledger.records(kind="check", start=dt.date(2024, 5, 2), end=dt.date(2024, 5, 3))
    assert [r.key for r in checks] == ["check:2024-05-02", "check:2024-05-03"]
    assert [r.kind for r in ledger.records(start=dt.date(2024, 5, 4))] == ["check", "pull"]
    assert [r.key for r in ledger.records(end=dt.date(2024, 5, 1))] == ["check:2024-05-01", "pull:2024-05-01"]
    everything = ledger.records()
    assert [r.seq for r in everything] == list(range(1, 10))
    assert ledger.records(kind="signoff") == []


def test_install_twice_keeps_records(ledger):
    ledger.append("run", "run:1", {"n": 1})
    ledger.install()
    assert [r.key for r in ledger.records()] == ["run:1"]
    assert ledger.verify().ok


@pytest.mark.parametrize(
    ("kind", "key", "payload", "partition", "field"),
    [
        ("", "k", {}, None, "kind"),
        ("run", "  ", {}, None, "key"),
        ("run", None, {}, None, "key"),
        ("run", "k" * 513, {}, None, "key"),
        ("run", "k", [1, 2], None, "payload"),
        ("run", "k", {"x": float("nan")}, None, "payload"),
        ("run", "k", {"when": dt.date(2024, 5, 1)}, None, "payload"),
        ("run", "k", {}, "2024-05-01", "partition"),
        ("run", "k", {}, dt.datetime(2024, 5, 1, 12, 0), "partition"),
    ],
)
def test_invalid_append_is_refused_naming_the_field_and_writes_nothing(ledger, kind, key, payload, partition, field):
    with pytest.raises(LedgerEntryError, match=field) as caught:
        ledger.append(kind, key, payload, partition=partition)
    assert isinstance(caught.value, LedgerError)
    assert caught.value.field == field
    assert ledger.records() == []


def test_empty_ledger_verifies_with_genesis_head(ledger):
    result = ledger.verify()
    assert (result.ok, result.count, result.head_hash, result.first_bad_seq) == (True, 0, GENESIS_HASH, None)


def test_using_a_ledger_that_was_never_installed_says_how_to_fix_it(store_url):
    lg = Ledger(sa.create_engine(store_url))
    with pytest.raises(LedgerNotInstalledError, match="install"):
        lg.append("run", "run:1", {})
    with pytest.raises(LedgerNotInstalledError):
        lg.verify()


def test_unsupported_engine_is_refused():
    with pytest.raises(LedgerError, match="engine"):
        Ledger("sqlite:///x.db")  # type: ignore[arg-type]
