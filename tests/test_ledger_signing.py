"""A ledger an insider cannot rewrite quietly: signed records, anchors outside the store, and a
PostgreSQL service role that cannot disable the guards."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from ledger import Ledger
from ledger.anchor import latest_anchor, write_anchor
from ledger.canonical import record_hash
from ledger.record import make_entry
from ledger.roles import grant_service_role
from ledger.schema import ledger_table as T
from ledger.signing import LedgerSigner
from metricstore import make_engine
from conftest import migrated

DAY = dt.date(2026, 9, 1)


def signed_ledger(url, signer=None) -> Ledger:
    ledger = Ledger(migrated(make_engine(url)), signer=signer or LedgerSigner.generate())
    ledger.install()
    for i in range(3):
        ledger.append("check", f"check:{i}", {"i": i}, partition=DAY)
    return ledger


def forge_append(engine, key: str, signature: str | None = None) -> int:
    """What an insider with database access can do: append a record with a correctly computed hash."""
    entry = make_entry("signoff", key, {"by": "nobody", "disposition": "accepted"}, DAY)
    with engine.begin() as conn:
        head = conn.execute(sa.select(T.c.seq, T.c.hash).order_by(T.c.seq.desc()).limit(1)).one()
        at = dt.datetime.now(dt.UTC)
        digest = record_hash(seq=head.seq + 1, recorded_at=at, kind=entry.kind, key=entry.key,
                             partition=entry.partition, payload_json=entry.payload_json, prev_hash=head.hash)
        conn.execute(T.insert().values(seq=head.seq + 1, recorded_at=at, kind=entry.kind, key=entry.key,
                                       partition=entry.partition, payload=entry.payload_json,
                                       prev_hash=head.hash, hash=digest, signature=signature))
    return head.seq + 1


def test_a_record_appended_without_the_key_fails_verification(migrated_store_url):
    ledger = signed_ledger(migrated_store_url)
    assert ledger.verify(verifier=ledger.signer).ok
    seq = forge_append(ledger.engine, "forged:1")
    assert ledger.verify().ok                              # the hash chain alone cannot tell
    v = ledger.verify(verifier=ledger.signer)
    assert not v.ok and v.first_bad_seq == seq and v.problem == "no signature"


def test_a_record_signed_with_another_key_fails_verification(migrated_store_url):
    ledger = signed_ledger(migrated_store_url)
    other = LedgerSigner.generate()
    with ledger.engine.connect() as conn:
        head_hash = conn.execute(sa.select(T.c.hash).order_by(T.c.seq.desc()).limit(1)).scalar_one()
    seq = forge_append(ledger.engine, "forged:2", signature=other.sign(head_hash))
    v = ledger.verify(verifier=ledger.signer)
    assert v.first_bad_seq == seq and v.problem.startswith("signature does not verify with ledger key")


def test_an_anchor_outside_the_store_catches_a_cut_history(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    ledger = signed_ledger(url)
    seq, head_hash, at = ledger.head()
    path = write_anchor(tmp_path / "anchors", seq, head_hash, at.isoformat(), ledger.signer)
    assert write_anchor(tmp_path / "anchors", seq, head_hash, at.isoformat(), ledger.signer) is None  # once
    assert not (path.stat().st_mode & 0o222)                                  # read-only file
    anchor = latest_anchor(tmp_path / "anchors")
    assert ledger.signer.valid(anchor.message, anchor.signature)
    with ledger.engine.begin() as conn:   # SQLite: whoever can write the file can drop the guard
        conn.exec_driver_sql("DROP TRIGGER mq_ledger_no_delete")
        conn.execute(T.delete().where(T.c.seq == seq))
    assert ledger.verify(verifier=ledger.signer).ok          # a clean cut at the end looks fine...
    v = ledger.verify(expected_head=anchor.hash, expected_count=anchor.seq, verifier=ledger.signer)
    assert not v.ok and "head moved back" in v.problem       # ...but not against the anchor


def test_postgres_service_role_cannot_rewrite_or_unguard_the_ledger(migrated_pg_url):
    owner = make_engine(migrated_pg_url)
    ledger = signed_ledger(migrated_pg_url)
    role = f"mq_svc_{uuid.uuid4().hex[:8]}"
    with owner.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
    try:
        grant_service_role(owner, role)
        service_url = migrated_pg_url.replace("://root@", f"://{role}@")
        service = sa.create_engine(service_url)
        as_service = Ledger(service, signer=ledger.signer)
        as_service.install()                                   # starting as the service is fine...
        assert as_service.append("check", "check:svc", {"ok": True}).created   # ...and so is appending
        for statement in ("ALTER TABLE mq_ledger DISABLE TRIGGER ALL", "UPDATE mq_ledger SET kind = 'x'",
                          "DELETE FROM mq_ledger", "TRUNCATE mq_ledger"):
            with pytest.raises(sa.exc.ProgrammingError) as err, service.begin() as conn:
                conn.exec_driver_sql(statement)
            assert "must be owner" in str(err.value) or "permission denied" in str(err.value)
        assert as_service.verify(verifier=ledger.signer).ok
        service.dispose()
    finally:
        with owner.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
            conn.exec_driver_sql(f'DROP ROLE "{role}"')


def test_mq_ledger_verify_checks_signatures_and_the_latest_anchor_by_default(tmp_path, monkeypatch, capsys):
    from mq.cli import main
    from mq.config import load_config
    from mq.pipeline import Pipeline
    from tests.alert_chaos import write_config

    monkeypatch.delenv("MQ_STATE_URL", raising=False)
    config = write_config(tmp_path)
    pipe = Pipeline(load_config(config))
    pipe.record_config()
    anchor = pipe.anchor_ledger()
    assert anchor is not None and anchor.parent == tmp_path / "ledger-anchors"
    assert (tmp_path / "ledger.key").stat().st_mode & 0o077 == 0           # the key: outside the db, private
    assert main(["--config", str(config), "ledger", "verify"]) == 0
    out = capsys.readouterr().out
    assert f"matches anchor {anchor.name}" in out and f"key {pipe.ledger.signer.key_id}" in out

    seq = forge_append(pipe.engine, "forged:cli")
    assert main(["--config", str(config), "ledger", "verify"]) == 1
    assert f"ledger BROKEN at record {seq}: no signature" in capsys.readouterr().err

    with pipe.engine.begin() as conn:   # remove the forgery and the anchored record: history cut short
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS mq_ledger_no_delete")
        conn.execute(T.delete().where(T.c.seq >= seq - 1))
    assert main(["--config", str(config), "ledger", "verify", "--no-anchor"]) == 0
    assert main(["--config", str(config), "ledger", "verify"]) == 1
    assert "head moved back" in capsys.readouterr().err


def test_a_ledger_from_before_signatures_is_migrated_and_its_unsigned_prefix_accepted(store_url):
    from metricstore import MetricStore

    engine = make_engine(store_url)
    old = sa.MetaData()
    sa.Table("mq_ledger", old, *[sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                                 for c in T.columns if c.name not in ("signature", "key_id")])
    old.create_all(engine)
    entry = make_entry("check", "check:old", {"before": "signatures"}, None)   # an unsigned record
    at = dt.datetime.now(dt.UTC)
    from ledger.canonical import GENESIS_HASH
    digest = record_hash(seq=1, recorded_at=at, kind=entry.kind, key=entry.key, partition=None,
                         payload_json=entry.payload_json, prev_hash=GENESIS_HASH)
    with engine.begin() as conn:
        conn.execute(old.tables["mq_ledger"].insert().values(
            seq=1, recorded_at=at, kind=entry.kind, key=entry.key, partition=None,
            payload=entry.payload_json, prev_hash=GENESIS_HASH, hash=digest))
    MetricStore(engine).install()
    assert {"signature", "key_id"} <= {c["name"] for c in sa.inspect(engine).get_columns("mq_ledger")}
    signer = LedgerSigner.generate()
    ledger = Ledger(engine, signer=signer)
    ledger.append("check", "check:new", {"after": "signatures"})
    assert ledger.verify(verifier=signer).ok
