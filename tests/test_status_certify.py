"""Certification of metric partitions: the pure decision per control outcome, the demo's grid (quiet
days certified, incident days failed with their incident, the first days provisional), `mq status`,
and a late-data restatement that revokes a certified day and notifies."""
from __future__ import annotations

import datetime as dt
import json

import pyarrow.parquet as pq
import pytest

from mq.cli import main
from status.certify import CertifySettings, Facts, decide, statuses

OK_PULL = {"status": "ok", "version": 1}
SETTLE = dt.datetime(2026, 9, 18, 6, tzinfo=dt.timezone.utc)
ALERT = {"kind": "discrepancy", "subject": "pair", "thread_key": "local|partition=2026-09-17", "suppressed": None}
SILENCED = {**ALERT, "thread_key": None, "suppressed": "silence #3 by ana: SDK fix"}


def statuses_of(pipe, day):
    """The statuses the pipeline's config certifies on `day`, from its metric store."""
    return statuses(CertifySettings.from_config(pipe.config), pipe.store, day)


@pytest.mark.parametrize("facts,status,says", [
    (Facts({"t": OK_PULL}, {"t": True}, "ran"), "certified", "every control passed"),
    (Facts({"t": OK_PULL}, {}, None), "certified", "every control passed"),            # no suite, no detector
    (Facts({"t": None}, {"t": None}, "missing"), "provisional", "not yet pulled"),
    (Facts({"t": OK_PULL}, {"t": None}, "ran"), "provisional", "suite not yet run"),
    (Facts({"t": OK_PULL}, {"t": True}, "missing"), "provisional", "detectors not yet run"),
    (Facts({"t": OK_PULL}, {"t": True}, "untested"), "provisional", "too little history"),
    (Facts({"t": OK_PULL}, {"t": True}, "ran", settles_at=SETTLE), "provisional", "late data expected until"),
    (Facts({"t": {"status": "missing", "version": 1}}, {"t": None}, "missing"), "failed", "is missing"),
    (Facts({"t": OK_PULL}, {"t": False}, "ran"), "failed", "suite of t failed"),
    (Facts({"t": OK_PULL}, {"t": True}, "ran", [ALERT]), "failed", "incident inc-"),
    (Facts({"t": OK_PULL}, {"t": True}, "ran", [SILENCED]), "failed", "not notified: silence #3"),
    # a failure now is a failure even while late data may still come
    (Facts({"t": OK_PULL}, {"t": False}, "ran", settles_at=SETTLE), "failed", "suite of t failed"),
])
def test_decision_per_control_outcome(facts, status, says):
    got, reason = decide(facts)
    assert got == status and says in reason, reason


@pytest.fixture
def demo(worked_demo, monkeypatch):
    monkeypatch.setenv("MQ_DEMO_DIR", str(worked_demo[2]))
    monkeypatch.delenv("MQ_STATE_URL", raising=False)
    monkeypatch.delenv("MQ_RECEIVER", raising=False)
    return worked_demo


def _day(truth, name):
    return dt.date.fromisoformat(next(i for i in truth["incidents"] if i["id"] == name)["start"])


def test_demo_grid_certifies_quiet_days_and_fails_incident_days(demo, capsys):
    pipe, truth, work, (start, end) = demo
    first = {s.subject: s for s in statuses_of(pipe, start)}
    assert {s.status for s in first.values()} == {"provisional"}   # no history to test the first day
    loss = {s.subject: s for s in statuses_of(pipe, _day(truth, "logging-loss"))}
    pair = loss["client_vs_warehouse_events"]
    assert pair.status == "failed" and pair.incidents
    assert pair.incidents[0] in {i.id for i in pipe.incidents.list()}
    assert loss["warehouse_events"].status == "certified"      # the warehouse count was right that day
    missing = {s.subject: s for s in statuses_of(pipe, _day(truth, "missing-partition"))}
    assert any(s.status == "failed" and "missing" in s.reason for s in missing.values())
    capsys.readouterr()
    assert main(["status", "--date", _day(truth, "logging-loss").isoformat(), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["subject"]: r["status"] for r in rows}["client_vs_warehouse_events"] == "failed"


def test_late_data_revokes_a_certified_partition_and_notifies(demo):
    pipe, truth, work, (start, end) = demo
    day = max(d for d in (end - dt.timedelta(days=k) for k in range(10))
              if {s.subject: s.status for s in statuses_of(pipe, d)}["warehouse_events"] == "certified")
    before = [r for r in pipe.ledger.records(kind="certification", start=day, end=day)
              if r.payload["subject"] == "warehouse_events"]
    assert len(before) == 1
    # Late rows land in the warehouse partition: 20 % more events that day.
    folder = work / "warehouse" / "warehouse_events" / f"ds={day}"
    table = pq.read_table(next(folder.glob("*.parquet")))
    pq.write_table(table.slice(0, max(1, table.num_rows // 5)), folder / "late-arrival.parquet")
    pipe.refresh_tables()
    pipe.run(day, trigger="cli")
    revoked = [r for r in pipe.ledger.records(kind="certification_revoked", start=day, end=day)
               if r.payload["subject"] == "warehouse_events"]
    assert len(revoked) == 1 and "restated" in revoked[0].payload["reason"]
    assert "warehouse_events=1" in revoked[0].payload["pull_versions"]
    sent = [json.loads(x)["notification"] for x in (work / "alerts" / "notifications.jsonl").read_text().splitlines()]
    assert any(n["title"].startswith("certification revoked: warehouse_events for " + day.isoformat()) for n in sent)
    now = {s.subject: s for s in statuses_of(pipe, day)}["warehouse_events"]
    assert "warehouse_events=2" in now.pull_versions
    pipe.run(day, trigger="cli")      # a re-run over the same data revokes nothing more
    assert len([r for r in pipe.ledger.records(kind="certification_revoked", start=day, end=day)
                if r.payload["subject"] == "warehouse_events"]) == 1
    assert pipe.ledger.verify().ok
