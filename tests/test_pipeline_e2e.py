"""The whole pipeline on the small demo warehouse: the incidents alert, the holiday does not, a re-run
changes nothing, and every output a user reads (export, report, explain, ledger) is there."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from mq.cli import main
from mq.pipeline import Pipeline
from mq.scoreboard import format_scoreboard, messages, score_incidents


@pytest.fixture(scope="module")
def backfilled(worked_demo):
    """(pipeline, truth, workdir, (start, end)): this module's copy of the run's one full backfill of the
    demo into a SQLite state store (conftest `backfilled_demo`: the expensive part, done once per run)."""
    return worked_demo


def test_injected_incidents_alert_and_the_holiday_does_not(backfilled):
    pipe, truth, *_ = backfilled
    rows = {r["incident"]: r for r in score_incidents(pipe, truth)[0]}
    assert rows["holiday"]["alerted"] is False
    for name in ("logging-loss", "duplicate-load", "missing-partition", "null-spike"):
        assert rows[name]["alerted"], f"{name} was not alerted: {rows[name]}"
    assert rows["logging-loss"]["top_root_cause"] == "platform=android & app_version=10.3"


def test_logging_loss_impact_brackets_the_lost_events(backfilled, spark):
    pipe, truth, work, *_ = backfilled
    inc = next(i for i in truth["incidents"] if i["id"] == "logging-loss")
    alert = max((a for a in pipe.alerts.alerts() if a["kind"] == "discrepancy" and a["impact"]
                 and a["first_partition"] == dt.date.fromisoformat(inc["start"])),
                key=lambda a: a["last_partition"])
    impact = alert["impact"]
    # Ground truth over the incident's partitions: on that slice the client captured half of its usual
    # 93.5 % of warehouse events.
    w = spark.read.parquet(str(work / "warehouse" / "warehouse_events")).where(
        f"ds BETWEEN '{alert['first_partition']}' AND '{alert['last_partition']}' "
        "AND platform = 'android' AND app_version = '10.3'").count()
    lost = w * 0.935 * 0.5
    assert impact["direction"] == "under"
    assert impact["lower"] <= -lost * 0.85 and -lost * 1.15 <= impact["upper"], (impact, lost)


def test_rerunning_the_backfill_changes_nothing(backfilled):
    pipe, truth, work, (start, end) = backfilled
    alerts, records = pipe.alerts.alerts(), len(pipe.ledger.records())
    sent = (work / "alerts" / "notifications.jsonl").read_text()
    points = len(pipe.store.points(["client_events", "warehouse_events"], start, end))
    again = start + dt.timedelta(days=30)
    pipe.backfill(again, again + dt.timedelta(days=4))   # the incident weeks, again
    assert pipe.alerts.alerts() == alerts
    assert len(pipe.ledger.records()) == records
    assert (work / "alerts" / "notifications.jsonl").read_text() == sent
    assert len(pipe.store.points(["client_events", "warehouse_events"], start, end)) == points
    assert pipe.ledger.verify().ok


def test_every_stage_left_audit_evidence(backfilled):
    pipe, *_ = backfilled
    kinds = {r.kind for r in pipe.ledger.records()}
    assert {"config_change", "pull", "check", "detector", "alert_decision", "run"} <= kinds
    pull = next(r for r in pipe.ledger.records(kind="pull") if r.payload["status"] == "ok")
    assert len(pull.payload["sql_hash"]) == 64 and pull.payload["input_files"] and pull.payload["row_count"] > 0


def test_one_notification_per_incident_group(backfilled):
    pipe, truth, work, *_ = backfilled
    lines = [json.loads(x) for x in (work / "alerts" / "notifications.jsonl").read_text().splitlines()]
    firing = [x for x in lines if x["notification"]["action"] == "firing"]
    keys = [x["notification"]["key"] for x in lines]
    assert len(keys) == len(set(keys))
    dup = next(i for i in truth["incidents"] if i["id"] == "duplicate-load")
    on_dup_day = [x for x in firing if x["notification"]["partition"] == dup["start"]]
    assert len(on_dup_day) == 1 and len(on_dup_day[0]["notification"]["alerts"]) > 5


def test_at_most_one_firing_message_per_incident_and_none_on_clean_days(backfilled):
    """Counted from what was queued for people: an incident is one thread (its later days, joining
    slices and resolution are replies), and a clean day starts no thread unless it is a false alert
    the demo table reports."""
    pipe, truth, *_ = backfilled
    rows, false = score_incidents(pipe, truth)
    for r in rows:
        assert r["messages"] <= 1, r
        assert r["messages"] == (1 if r["should_alert"] else 0), r
    sent = messages(pipe)
    firing_days = [m["partition"] for m in sent if m["action"] == "firing"]
    in_incidents = [d for d in firing_days if any(
        dt.date.fromisoformat(i["start"]) <= d <= dt.date.fromisoformat(i["end"]) for i in truth["incidents"])]
    assert len(firing_days) == len(in_incidents) + len(false)
    threads = {m["thread_key"] for m in sent if m["action"] == "firing"}
    assert all(m["thread_key"] in threads for m in sent)          # every reply is in a started thread
    printed = format_scoreboard(rows, false)
    assert f"false alerts (firing messages on clean days): {len(false)}" in printed


def test_cli_outputs(backfilled, capsys):
    pipe, truth, work, (start, end) = backfilled
    out = work / "export.jsonl"
    assert main(["alerts", "export", "--format", "jsonl", "--out", str(out)]) == 0
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert records and {"id", "fingerprint", "kind", "severity", "status", "metric", "labels", "partition",
                        "first_fired_at", "last_fired_at", "message", "observed", "expected", "impact",
                        "root_causes"} <= set(records[0])
    assert main(["report", "sox", "--start", str(start), "--end", str(end), "--out", str(work / "rep")]) == 0
    html = (work / "rep" / "index.html").read_text()
    assert "data:image/png;base64," in html and "verified" in html
    for name in ("runs", "pulls", "checks", "alerts", "alert_decisions", "ledger_verification"):
        assert (work / "rep" / f"{name}.csv").stat().st_size > 0
    loss_day = next(i for i in truth["incidents"] if i["id"] == "logging-loss")["start"]
    capsys.readouterr()
    assert main(["explain", "--metric", "client_vs_warehouse_events", "--date", loss_day,
                 "--chart", str(work / "explain.png")]) == 0
    text = capsys.readouterr().out
    assert "platform=android & app_version=10.3" in text and "client lost about" in text
    assert "side: client" in text
    assert (work / "explain.png").read_bytes()[:4] == b"\x89PNG"
    days = {i["id"]: i["start"] for i in truth["incidents"]}
    assert main(["explain", "--metric", "client_vs_warehouse_events", "--date", days["missing-partition"]]) == 0
    assert "warehouse partition" in capsys.readouterr().out
    assert main(["explain", "--metric", "client_vs_warehouse_events", "--date", days["holiday"]]) == 0
    holiday = capsys.readouterr().out
    assert "within normal variation" in holiday and "root cause" not in holiday
    assert main(["explain", "--metric", "client_vs_warehouse_events", "--date", "2020-01-01"]) == 1
    assert "no data" in capsys.readouterr().out
    assert main(["ledger", "verify"]) == 0


def test_postgres_state_store_runs_the_same_stages(backfilled, pg_url, spark):
    """Every store (metric points, checks, alerts, outbox, ledger) on PostgreSQL, on the days whose
    incidents need no history: the missing partition and the null spike."""
    pipe, truth, work, *_ = backfilled
    pg = Pipeline(pipe.config, spark=spark, state_url=pg_url)
    days = [dt.date.fromisoformat(i["start"]) for i in truth["incidents"]
            if i["id"] in ("missing-partition", "null-spike")]
    for day in days:
        pg.run(day)
        pg.run(day)   # idempotent on PostgreSQL too
    kinds = sorted(a["kind"] for a in pg.alerts.alerts())
    assert kinds == ["expectation", "freshness"]
    assert pg.ledger.verify().ok
    assert len(pg.store.runs()) == 4 and len(pg.store.pulls()) == 4


def test_an_alert_covering_an_incident_from_before_its_start_counts_as_alerting_it_but_not_a_holiday():
    """A drift's incident begins at its estimated onset, which may be a day or two before the injected
    start: it still alerted that incident. A holiday is alerted only by an alert that begins on it."""
    from mq.scoreboard import _alerted
    drift = {"suppressed": None, "kind": "discrepancy", "labels": {"country": "GB"}, "root_causes": [],
             "first_partition": dt.date(2026, 9, 8), "last_partition": dt.date(2026, 9, 15)}
    loss = {"id": "drift", "kind": "client_logging_loss", "start": "2026-09-10", "end": "2026-09-20",
            "labels": {"country": "GB"}}
    holiday = {"id": "holiday", "kind": "holiday", "start": "2026-09-09", "end": "2026-09-09", "labels": {}}
    assert _alerted([drift], loss) == [drift]
    assert _alerted([drift], holiday) == []
    assert _alerted([{**drift, "last_partition": dt.date(2026, 9, 9)}], loss) == []
