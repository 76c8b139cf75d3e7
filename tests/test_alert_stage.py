"""The alert stage as functions: the findings of a partition from given pulls, checks and detections in
a metric store on an in-memory SQLite (nothing written), then their decisions, ledger entries and
queued notifications with the real alert book, ledger and outbox on that database. No Spark."""
from __future__ import annotations

import datetime as dt

import pytest

from alerting.lifecycle import AlertBook
from alerting.outbox import Outbox
from ledger import Ledger
from metricstore import MetricStore
from conftest import config_from_yaml
from mq.stages.alert import AlertSettings, alert, collect_findings

DAY = dt.date(2026, 9, 30)
NOW = dt.datetime(2026, 10, 1, 7, tzinfo=dt.timezone.utc)
CONFIG = """
version: 1
dimensions: [platform]
slices: [[], [platform]]
tables:
  client: {path: /data/client, owner: apps}
  warehouse: {path: /data/warehouse, owner: data-eng}
metrics:
  client_events: {table: client, team: growth}
  warehouse_events: {table: warehouse}
pairs:
  client_vs_warehouse: {client: client_events, warehouse: warehouse_events}
alerting:
  route: {receiver: local, group_by: [partition]}
  receivers: [{name: local, file: alerts.jsonl}]
"""


@pytest.fixture
def settings(tmp_path) -> AlertSettings:
    return AlertSettings.from_config(config_from_yaml(tmp_path, CONFIG))


@pytest.fixture
def engine(memory_engine):
    MetricStore(memory_engine).install()
    return memory_engine


@pytest.fixture
def store(engine):
    return MetricStore(engine)


def pull(store, table: str, status: str = "ok", day: dt.date = DAY) -> None:
    store.record_pull({"table_name": table, "partition": day, "status": status,
                       "row_count": 0 if status == "missing" else 1_000, "content_hash": f"{table}:{status}",
                       "input_files": []}, None)


def verdicts(store, subject: str, day: dt.date = DAY, *, android: str = "anomaly", total: str = "ok") -> None:
    """The detect stage's verdicts of `subject` for `day`: the total and the android slice."""
    def row(key, labels, status, observed):
        return {"slice_key": key, "detector": "seasonal_mad", "labels": labels, "status": status,
                "observed": observed, "expected": 1000.0, "lower": 900.0, "upper": 1100.0, "score": 9.0,
                "p_value": 1e-9, "q_value": 1e-8, "direction": "low" if status == "anomaly" else None}
    store.save_detections(subject, day, [row("(total)", {}, total, 0.0 if total == "anomaly" else 1000.0),
                                         row("platform=android", {"platform": "android"}, android, 610.0)])


def test_settings_say_who_owns_each_subject(settings):
    assert settings.teams == {"client_events": "growth", "warehouse_events": "data-eng",
                              "client_vs_warehouse": "data-eng"}   # a pair: its warehouse table's owner


def test_a_missing_partition_is_a_critical_freshness_alert_for_the_table_owner(settings, store):
    pull(store, "client", "missing")
    pull(store, "warehouse")
    found, clean = collect_findings(settings, store, DAY)
    (fresh,) = [a for a in found if a.kind == "freshness"]
    assert (fresh.subject, fresh.severity, fresh.team) == ("client", "critical", "apps")
    assert fresh.message == f"partition {DAY} of client is missing or empty"
    assert len(clean) == 3   # warehouse fresh, both tables readable


def test_an_unreadable_partition_is_a_failed_check_naming_why(settings, store):
    store.record_pull({"table_name": "warehouse", "partition": DAY, "status": "error", "row_count": None,
                       "content_hash": "e", "input_files": [], "error": "part-0.csv: not UTF-8"}, None)
    found, _ = collect_findings(settings, store, DAY)
    (bad,) = found
    assert (bad.kind, bad.severity, bad.labels["expectation"]) == ("expectation", "critical", "input_readable")
    assert bad.message == f"partition {DAY} of warehouse could not be read: part-0.csv: not UTF-8"


def test_anomalies_become_alerts_with_their_numbers_and_ok_slices_are_clean(settings, store):
    pull(store, "client")
    verdicts(store, "client_events")
    found, clean = collect_findings(settings, store, DAY)
    (a,) = found
    assert (a.kind, a.subject, a.severity, a.team, a.labels) == (
        "anomaly", "client_events", "warning", "growth", {"platform": "android"})
    assert a.message == ("client_events value on platform=android is low: 610 vs expected 1,000 [900, 1,100] "
                         "(seasonal_mad)")
    assert not a.root_causes and a.impact is None                 # no explain given
    assert len(clean) == 3                                       # freshness, readable, the total


def test_a_whole_table_anomaly_is_critical_and_a_pair_speaks_of_its_ratio(settings, store):
    verdicts(store, "client_vs_warehouse", total="anomaly", android="ok")
    (a,) = collect_findings(settings, store, DAY)[0]
    assert (a.kind, a.severity) == ("discrepancy", "critical")
    assert a.message.startswith("client_vs_warehouse client/warehouse ratio on all is low")


def test_explain_is_asked_for_subjects_with_anomalies_only(settings, store):
    verdicts(store, "client_events")
    verdicts(store, "warehouse_events", android="ok")
    asked = []

    def explain(kind, subject, partition):
        asked.append((kind, subject, partition))
        return ({"label": "platform=android", "share": 1.0},), {"events": -390.0, "summary": "lost about 390"}

    (a,) = collect_findings(settings, store, DAY, explain=explain)[0]
    assert asked == [("anomaly", "client_events", DAY)]
    assert a.root_causes[0]["label"] == "platform=android" and a.impact["events"] == -390.0


def test_a_failed_expectation_is_a_warning_and_a_passed_one_clean(settings, store):
    result = {"expectations": [
        {"expectation": "expect_column_values_to_not_be_null", "column": "user_id", "success": False,
         "observed_value": 12, "unexpected_count": 12, "unexpected_sample": [1, 2, 3, 4, 5, 6]},
        {"expectation": "expect_table_row_count_to_be_between", "success": True}]}
    store.record_check(suite="warehouse_suite", table="warehouse", partition=DAY, suite_hash="h" * 64,
                       result_hash="r" * 64, success=False, result=result, run_id=None)
    found, clean = collect_findings(settings, store, DAY)
    (a,) = found
    assert (a.kind, a.subject, a.severity, a.team) == ("expectation", "warehouse_suite", "warning", "data-eng")
    assert a.labels == {"table": "warehouse", "expectation": "expect_column_values_to_not_be_null",
                        "column": "user_id"}
    assert "user_id" in a.message and len(a.details["sample"]) == 5
    assert len(clean) == 1


def test_a_slice_flagged_days_running_says_when_it_becomes_the_baseline(settings, store):
    for k in range(3):
        verdicts(store, "client_events", DAY - dt.timedelta(days=k))
    (a,) = collect_findings(settings, store, DAY)[0]
    assert a.message.endswith("; flagged 3 days running: becomes the new baseline after 14")


def test_decisions_ledger_and_outbox_once_across_a_rerun(settings, engine, store):
    book, outbox, ledger = AlertBook(engine), Outbox(engine), Ledger(engine)
    pull(store, "client", "missing")
    # Count anomalies on a partition with a missing table are muted by it (the default inhibition rule).
    verdicts(store, "client_events")
    verdicts(store, "warehouse_events")

    def run():
        found, clean = collect_findings(settings, store, DAY)
        return alert(settings, book, outbox, ledger, DAY, found, clean, now=NOW, links={"Report": "file:///r"})

    first = run()
    assert first.summary == {"candidates": 3, "decisions": {"notify": 1, "inhibited": 2}, "queued": 1}
    decided = {(e.payload["kind"], e.payload["subject"]): e.payload["decision"] for e in first.ledger}
    assert decided == {("freshness", "client"): "notify", ("anomaly", "client_events"): "inhibited",
                       ("anomaly", "warehouse_events"): "inhibited"}
    assert [r.key for r in ledger.records(kind="alert_decision")] == [e.key for e in first.ledger]
    (item,) = outbox.pending()   # one message for the partition's group
    assert item.receiver == "local" and "client" in item.title

    again = run()
    assert again.summary == {"candidates": 3, "decisions": {"duplicate": 3}, "queued": 0}
    assert again.ledger == ()
    assert len(ledger.records(kind="alert_decision")) == 3 and len(outbox.items()) == 1


def test_a_drift_found_days_after_its_onset_opens_an_incident_covering_the_days_since(settings, engine, store):
    """A slow drift is clean on its first days and found later: its incident begins at the estimated
    onset, so the days since are covered by it (and their certifications revoked), not only the day
    it was found."""
    onset = DAY - dt.timedelta(days=5)
    store.save_detections("client_vs_warehouse", DAY, [{
        "slice_key": "platform=android", "detector": "ratio_drift", "labels": {"platform": "android"},
        "status": "anomaly", "observed": 0.95, "expected": 0.98, "lower": 0.96, "upper": 1.0, "score": 30.0,
        "p_value": 1e-7, "q_value": 1e-6, "direction": "low",
        "drift": {"start": onset.isoformat(), "cumulative_effect": -900.0, "level": -0.03, "slope": -0.006}}])
    found, clean = collect_findings(settings, store, DAY)
    (a,) = found
    assert a.began == onset and f"since {onset}" in a.message
    alert(settings, AlertBook(engine), Outbox(engine), Ledger(engine), DAY, found, clean, now=NOW, links={})
    (incident,) = AlertBook(engine).alerts()
    assert (incident["first_partition"], incident["last_partition"]) == (onset, DAY)
