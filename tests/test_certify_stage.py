"""The certify stage's verdict as a function: settings from the config, and given pulls, checks,
detections and alerts in a metric store on an in-memory SQLite; the statuses come back as data and
nothing is written. No Spark."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from alerting.schema import alerts as alert_table
from incidents import incident_id
from metricstore import MetricStore
from conftest import config_from_yaml
from mq.stages.certify import CertifySettings, certify

DAY = dt.date(2026, 9, 30)
PULLED = dt.datetime(2026, 10, 2, 6, tzinfo=dt.timezone.utc)   # well after the day settled
CONFIG = """
version: 1
tables:
  client: {path: /data/client}
  warehouse: {path: /data/warehouse, suite: suites/warehouse.yml}
metrics:
  client_events: {table: client, detectors: [{name: seasonal_mad}]}
  warehouse_events: {table: warehouse, detectors: [{name: seasonal_mad}]}
pairs:
  client_vs_warehouse: {client: client_events, warehouse: warehouse_events}
certification: {settle_hours: 6}
"""


@pytest.fixture
def settings(tmp_path) -> CertifySettings:
    return CertifySettings.from_config(config_from_yaml(tmp_path, CONFIG))


@pytest.fixture
def store(memory_engine):
    s = MetricStore(memory_engine)
    s.install()
    return s


def pull(store, table: str, status: str = "ok", finished_at: dt.datetime = PULLED) -> None:
    store.record_pull({"table_name": table, "partition": DAY, "status": status, "row_count": 100,
                       "content_hash": f"{table}:{status}", "input_files": [], "finished_at": finished_at}, None)


def checked(store, table: str, success: bool) -> None:
    store.record_check(suite=f"{table}_suite", table=table, partition=DAY, suite_hash="h" * 64,
                       result_hash=("p" if success else "f") * 64, success=success, result={}, run_id=None)


def detected(store, subject: str, status: str = "ok") -> None:
    store.save_detections(subject, DAY, [{"slice_key": "(total)", "detector": "seasonal_mad", "labels": {},
                                          "status": status}])


def alert(store, subject: str, *, table: str | None = None, thread_key: str | None = "t|1",
          suppressed: str | None = None) -> None:
    now = dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc)
    with store.engine.begin() as conn:
        conn.execute(alert_table.insert().values(
            id=f"{subject}-{DAY}", fingerprint="f" * 32, kind="anomaly", subject=subject, labels={},
            severity="critical", status="firing", first_partition=DAY, last_partition=DAY, first_fired_at=now,
            last_fired_at=now, message="...", table_name=table, thread_key=thread_key, suppressed=suppressed))


def all_clean(store) -> None:
    for table in ("client", "warehouse"):
        pull(store, table)
    checked(store, "warehouse", True)
    for subject in ("client_events", "warehouse_events", "client_vs_warehouse"):
        detected(store, subject)


def verdict(settings, store) -> dict[str, tuple[str, str]]:
    return {s.subject: (s.status, s.reason) for s in certify(settings, store, DAY).statuses}


def test_every_control_passed_certifies_with_the_pull_versions(settings, store):
    all_clean(store)
    found = certify(settings, store, DAY)
    assert found.summary == {"client_events": "certified", "warehouse_events": "certified",
                             "client_vs_warehouse": "certified"}
    pair = next(s for s in found.statuses if s.subject == "client_vs_warehouse")
    assert pair.pull_versions == "client=1,warehouse=1"
    assert store.engine.connect().execute(sa.text("select count(*) from mq_certifications")).scalar() == 0


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
    found = {s.subject: s for s in certify(settings, store, DAY).statuses}
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
