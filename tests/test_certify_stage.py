"""The certify stage as a function: settings from the config, and given pulls, checks, detections and
alerts in a metric store on an in-memory SQLite; the statuses, the incidents to open and the
certifications to record or revoke come back as data and nothing is written until the orchestrator's
side writes them (`IncidentBook.open`, `status.records.write`). No Spark."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from alerting.outbox import Outbox
from alerting.schema import alerts as alert_table
from incidents import IncidentBook, incident_id
from metricstore import MetricStore
from conftest import config_from_yaml
from mq.stages.certify import CertifySettings, certify
from status.certify import statuses
from status.records import active, write

DAY = dt.date(2026, 9, 30)
PULLED = dt.datetime(2026, 10, 2, 6, tzinfo=dt.timezone.utc)   # well after the day settled
NOW = dt.datetime(2026, 10, 2, 7, tzinfo=dt.timezone.utc)
LINKS = {"Report": "file:///work/report/index.html"}
CONFIG = """
version: 1
tables:
  client: {path: /data/client, owner: client-platform}
  warehouse: {path: /data/warehouse, suite: suites/warehouse.yml, owner: data-engineering}
metrics:
  client_events: {table: client, detectors: [{name: seasonal_mad}]}
  warehouse_events: {table: warehouse, detectors: [{name: seasonal_mad}]}
pairs:
  client_vs_warehouse: {client: client_events, warehouse: warehouse_events}
certification: {settle_hours: 6}
alerting:
  route:
    receiver: local
    routes:
      - {matchers: {kind: certification}, receiver: analysts, continue: true}
      - {matchers: {severity: warning}, receiver: oncall}
  receivers:
    - {name: local, file: out/alerts.jsonl}
    - {name: analysts, file: out/analysts.jsonl}
    - {name: oncall, file: out/oncall.jsonl}
"""


@pytest.fixture
def settings(tmp_path) -> CertifySettings:
    return CertifySettings.from_config(config_from_yaml(tmp_path, CONFIG))


@pytest.fixture
def store(stores):
    return stores[0]


@pytest.fixture
def ledger(stores):
    return stores[1]


@pytest.fixture
def outbox(memory_engine):
    return Outbox(memory_engine)


def pull(store, table: str, status: str = "ok", finished_at: dt.datetime = PULLED, rows: int = 100,
         day: dt.date = DAY) -> None:
    store.record_pull({"table_name": table, "partition": day, "status": status, "row_count": rows,
                       "content_hash": f"{table}:{status}:{rows}", "input_files": [], "finished_at": finished_at},
                      None)


def checked(store, table: str, success: bool, day: dt.date = DAY) -> None:
    store.record_check(suite=f"{table}_suite", table=table, partition=day, suite_hash="h" * 64,
                       result_hash=("p" if success else "f") * 64, success=success, result={}, run_id=None)


def detected(store, subject: str, status: str = "ok", day: dt.date = DAY) -> None:
    store.save_detections(subject, day, [{"slice_key": "(total)", "detector": "seasonal_mad", "labels": {},
                                          "status": status}])


def alert(store, subject: str, *, table: str | None = None, thread_key: str | None = "t|1",
          suppressed: str | None = None, team: str | None = None, first: dt.date = DAY,
          last: dt.date = DAY, kind: str = "anomaly") -> None:
    now = dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc)
    with store.engine.begin() as conn:
        conn.execute(alert_table.insert().values(
            id=f"{subject}-{last}", fingerprint="f" * 32, kind=kind, subject=subject, labels={},
            severity="critical", status="firing", first_partition=first, last_partition=last, first_fired_at=now,
            last_fired_at=now, message="...", table_name=table, thread_key=thread_key, suppressed=suppressed,
            receiver="local", team=team))


def all_clean(store, day: dt.date = DAY) -> None:
    for table in ("client", "warehouse"):
        pull(store, table, day=day)
    checked(store, "warehouse", True, day=day)
    for subject in ("client_events", "warehouse_events", "client_vs_warehouse"):
        detected(store, subject, day=day)


def verdict(settings, store) -> dict[str, tuple[str, str]]:
    return {s.subject: (s.status, s.reason) for s in statuses(settings, store, DAY)}


def rows(store, table: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.text(f"select count(*) from {table}")).scalar()


def run_stage(settings, store, ledger, outbox, now=NOW, day: dt.date = DAY):
    """The stage, then what the orchestrator writes of it (as `run_certification` does)."""
    found = certify(settings, store, ledger, day, now=now, links=LINKS)
    book = IncidentBook(store.engine, ledger)
    for new in found.opened:
        book.open(new)
    write(store.engine, ledger, outbox, found.changes)
    return found


def test_every_control_passed_certifies_with_the_pull_versions(settings, store, ledger):
    all_clean(store)
    found = certify(settings, store, ledger, DAY, now=NOW, links=LINKS)
    assert found.summary == {"client_events": "certified", "warehouse_events": "certified",
                             "client_vs_warehouse": "certified"}
    pair = next(s for s in found.statuses if s.subject == "client_vs_warehouse")
    assert pair.pull_versions == "client=1,warehouse=1"
    assert [(c.action, c.subject) for c in found.changes] == [
        ("certify", "client_events"), ("certify", "warehouse_events"), ("certify", "client_vs_warehouse")]
    assert [e.key for e in found.ledger] == [
        f"certification:client_events:{DAY}:client=1:0", f"certification:warehouse_events:{DAY}:warehouse=1:0",
        f"certification:client_vs_warehouse:{DAY}:client=1,warehouse=1:0"]
    assert found.opened == () and found.notifications == ()
    # nothing written: the orchestrator writes what the stage returned
    assert rows(store, "mq_certifications") == 0 and list(ledger.records()) == []


def test_written_certifications_are_active_and_a_rerun_changes_nothing(settings, store, ledger, outbox):
    all_clean(store)
    run_stage(settings, store, ledger, outbox)
    assert active(store.engine, "warehouse_events", DAY)["pull_versions"] == "warehouse=1"
    assert [r.payload["subject"] for r in ledger.records(kind="certification")] == [
        "client_events", "warehouse_events", "client_vs_warehouse"]
    again = certify(settings, store, ledger, DAY, now=NOW + dt.timedelta(hours=1), links=LINKS)
    assert again.summary["warehouse_events"] == "certified" and again.changes == ()


def test_a_restatement_revokes_the_certification_and_notifies_every_route(settings, store, ledger, outbox):
    all_clean(store)
    run_stage(settings, store, ledger, outbox)
    pull(store, "warehouse", rows=120)       # late data: a second pull version of the partition
    found = certify(settings, store, ledger, DAY, now=NOW + dt.timedelta(hours=2), links=LINKS)
    assert [(c.action, c.subject, c.pull_versions) for c in found.changes] == [
        ("revoke", "warehouse_events", "warehouse=1"), ("certify", "warehouse_events", "warehouse=2"),
        ("revoke", "client_vs_warehouse", "client=1,warehouse=1"),
        ("certify", "client_vs_warehouse", "client=1,warehouse=2")]
    assert found.changes[0].reason == "restated: late data changed the pulls (warehouse=1 -> warehouse=2)"
    # every receiver the route reaches gets the notice (past the `continue: true` node)
    assert sorted(r for r, _ in found.changes[0].notifications) == ["analysts", "oncall"]
    assert outbox.pending() == []            # not queued until written
    write(store.engine, ledger, outbox, found.changes)
    titles = {(i.receiver, i.title) for i in outbox.pending()}
    assert ("analysts", f"certification revoked: warehouse_events for {DAY} (restated: late data changed "
                        f"the pulls (warehouse=1 -> warehouse=2))") in titles
    assert active(store.engine, "warehouse_events", DAY)["pull_versions"] == "warehouse=2"
    assert active(store.engine, "client_events", DAY)["pull_versions"] == "client=1"
    assert [r.payload["subject"] for r in ledger.records(kind="certification_revoked")] == [
        "warehouse_events", "client_vs_warehouse"]
    assert ledger.verify().ok


def test_an_alert_revokes_opens_its_incident_and_a_false_positive_certifies_again(settings, store, ledger,
                                                                                   outbox):
    all_clean(store)
    run_stage(settings, store, ledger, outbox)
    alert(store, "warehouse_events", table="warehouse")
    found = run_stage(settings, store, ledger, outbox, now=NOW + dt.timedelta(hours=1))
    assert [n.id for n in found.opened] == [incident_id("t|1")]
    incident = IncidentBook(store.engine, ledger).get(incident_id("t|1"))
    assert incident.owner == "data-engineering" and incident.status == "open"   # the table's owner
    assert [(c.action, c.subject) for c in found.changes] == [("revoke", "warehouse_events"),
                                                              ("revoke", "client_vs_warehouse")]
    assert found.changes[0].reason.startswith(f"now failed: 1 alert(s), e.g. anomaly on warehouse_events "
                                              f"(incident {incident_id('t|1')})")
    assert active(store.engine, "warehouse_events", DAY) is None
    # signed off as a false positive: the same data is certified again, a new ledger record
    IncidentBook(store.engine, ledger).act(incident_id("t|1"), "signoff", by="lead", note="seasonal",
                                           disposition="false_positive")
    again = run_stage(settings, store, ledger, outbox, now=NOW + dt.timedelta(hours=2))
    assert again.opened == ()
    assert [e.key for e in again.ledger] == [f"certification:warehouse_events:{DAY}:warehouse=1:1",
                                             f"certification:client_vs_warehouse:{DAY}:client=1,warehouse=1:1"]
    assert active(store.engine, "warehouse_events", DAY)["certified_at"] is not None
    assert ledger.verify().ok


def test_a_drift_found_late_revokes_the_certified_days_since_its_onset_once(settings, store, ledger, outbox):
    """Days certified before a drift was found, inside its incident (which begins at the drift's
    estimated onset), are revoked with a notice when the drift is found; a day before the onset keeps
    its certification, and a re-run revokes nothing twice."""
    days = [DAY + dt.timedelta(days=k) for k in range(-3, 2)]     # DAY-3 .. DAY+1
    for k, day in enumerate(days[:-1]):
        all_clean(store, day)
        run_stage(settings, store, ledger, outbox, now=NOW + dt.timedelta(days=k - 3), day=day)
    assert all(active(store.engine, "client_vs_warehouse", d) for d in days[:-1])
    found_on = days[-1]
    all_clean(store, found_on)
    alert(store, "client_vs_warehouse", kind="discrepancy", first=DAY - dt.timedelta(days=1), last=found_on)
    found = run_stage(settings, store, ledger, outbox, now=NOW + dt.timedelta(days=2), day=found_on)
    revoked = [(c.subject, c.partition) for c in found.changes if c.action == "revoke"]
    assert revoked == [("client_vs_warehouse", DAY - dt.timedelta(days=1)), ("client_vs_warehouse", DAY)]
    assert found.summary["client_vs_warehouse"] == "failed" and found.summary["client_events"] == "certified"
    assert found.changes[0].reason.startswith("now failed: 1 alert(s), e.g. discrepancy on client_vs_warehouse")
    assert active(store.engine, "client_vs_warehouse", DAY - dt.timedelta(days=2)) is not None
    assert active(store.engine, "client_vs_warehouse", DAY) is None
    notices = sorted((i.receiver, i.title.split(" (")[0]) for i in outbox.pending())
    assert notices == [(r, f"certification revoked: client_vs_warehouse for {d}")
                       for r in ("analysts", "oncall") for d in (DAY - dt.timedelta(days=1), DAY)]
    again = run_stage(settings, store, ledger, outbox, now=NOW + dt.timedelta(days=2, hours=1), day=found_on)
    assert again.changes == ()
    assert len(ledger.records(kind="certification_revoked")) == 2 and ledger.verify().ok


def test_an_incident_belongs_to_the_team_its_alerts_name_before_the_table_owner(settings, store, ledger):
    all_clean(store)
    alert(store, "warehouse_events", table="warehouse", team="growth")
    alert(store, "client_events", thread_key="t|2")
    found = certify(settings, store, ledger, DAY, now=NOW, links=LINKS)
    assert {n.id: n.values["owner"] for n in found.opened} == {incident_id("t|1"): "growth",
                                                               incident_id("t|2"): "client-platform"}
    # opened oldest alert first, before any certification is recorded
    assert [e.key for e in found.ledger[:2]] == [f"incident:{incident_id('t|2')}:opened",
                                                 f"incident:{incident_id('t|1')}:opened"]
    assert rows(store, "mq_incidents") == 0


def test_a_failed_suite_fails_the_metrics_computed_on_its_table(settings, store):
    all_clean(store)
    checked(store, "warehouse", False)   # a later result of the same suite
    v = verdict(settings, store)
    assert v["warehouse_events"] == ("failed", "expectation suite of warehouse failed")
    assert v["client_vs_warehouse"][0] == "failed"
    assert v["client_events"][0] == "certified"


def test_a_missing_partition_fails_and_an_unpulled_one_is_provisional(settings, store):
    all_clean(store)
    pull(store, "client", status="missing")
    v = verdict(settings, store)
    assert v["client_events"] == ("failed", "partition of client is missing")
    fresh = MetricStore(sa.create_engine("sqlite://", poolclass=StaticPool))
    fresh.install()
    assert verdict(settings, fresh)["client_events"] == ("provisional", "not yet pulled: client")


def test_an_alert_fails_its_subject_and_names_the_incident(settings, store):
    all_clean(store)
    alert(store, "client_vs_warehouse")
    found = {s.subject: s for s in statuses(settings, store, DAY)}
    assert found["client_vs_warehouse"].status == "failed"
    assert found["client_vs_warehouse"].incidents == (incident_id("t|1"),)
    assert f"incident {incident_id('t|1')}" in found["client_vs_warehouse"].reason
    assert found["client_events"].status == "certified"


def test_a_suppressed_alert_says_why_it_was_not_notified(settings, store):
    all_clean(store)
    alert(store, "warehouse_events", thread_key=None, suppressed="silenced by s1")
    status, reason = verdict(settings, store)["warehouse_events"]
    assert status == "failed" and "not notified: silenced by s1" in reason


def test_detectors_not_run_or_without_history_leave_it_provisional(settings, store):
    for table in ("client", "warehouse"):
        pull(store, table)
    checked(store, "warehouse", True)
    detected(store, "client_events", status="insufficient_history")
    v = verdict(settings, store)
    assert v["client_events"] == ("provisional", "too little history for the detectors to test this day")
    assert v["warehouse_events"] == ("provisional", "detectors not yet run")


def test_a_pull_before_the_day_settled_is_provisional(settings, store):
    pull(store, "client")
    pull(store, "warehouse", finished_at=dt.datetime(2026, 10, 1, 2, tzinfo=dt.timezone.utc))
    checked(store, "warehouse", True)
    for subject in ("client_events", "warehouse_events", "client_vs_warehouse"):
        detected(store, subject)
    v = verdict(settings, store)
    assert v["warehouse_events"] == ("provisional", "late data expected until 2026-10-01 06:00 UTC")
    assert v["client_events"][0] == "certified"


def test_statuses_follow_the_settings_subjects_and_read_only_the_store(settings, store):
    """`status.certify.statuses`, what `mq status` and the status page show, needs no pipeline."""
    all_clean(store)
    checked(store, "warehouse", False)
    found = statuses(settings, store, DAY)
    assert [s.subject for s in found] == [s.name for s in settings.subjects]
    by_subject = {s.subject: s for s in found}
    assert by_subject["warehouse_events"].status == "failed"
    assert by_subject["client_events"].status == "certified"
    assert by_subject["client_events"].pull_versions == "client=1"
    assert rows(store, "mq_certifications") == 0
