"""The run as declared in `mq.run`, and what a run depends on passed as values, not environment variables:
the state URL read once when the config is loaded, the demo folder given to one config load, the
Airflow run's URL handed to the run, the default alert sink under `workdir`. No Spark."""
from __future__ import annotations

import datetime as dt
import os
import textwrap

import pytest

from conftest import DEMO_CONFIG
from mq.config import load_config
from mq.run import STAGES, producer_of, run_summary, stage

BASE = """
version: 1
dimensions: [platform]
tables:
  events: {path: /data/events}
metrics:
  event_count: {table: events, expression: "COUNT(*)", detectors: [{name: seasonal_mad}]}
"""
DAY = dt.date(2026, 9, 17)


def write(tmp_path, text: str):
    path = tmp_path / "mq.yml"
    path.write_text(textwrap.dedent(text))
    return path


# ---- the declaration ---------------------------------------------------------------------
def test_stages_are_declared_once_in_run_order():
    assert [s.name for s in STAGES] == ["pull", "validate", "detect", "alert", "certify", "deliver"]
    assert len({s.summary_key for s in STAGES}) == len(STAGES)
    # Every stage reads only what the warehouse holds or an earlier stage (or an earlier run) produced.
    produced = {"warehouse partitions"}
    for s in STAGES:
        assert set(s.reads) - produced - set(s.produces) == set(), s.name
        produced |= set(s.produces)
    assert [s.name for s in STAGES if s.reads_warehouse] == ["pull", "validate"]
    assert producer_of("certifications").name == "certify"
    with pytest.raises(ValueError, match="unknown stage 'publish'"):
        stage("publish")


def pulls(*statuses):
    return [{"table": f"t{i}", "partition": DAY.isoformat(), "status": st, "row_count": 1, "version": 1,
             "changed": True, **({"error": "bad file"} if st == "error" else {})}
            for i, st in enumerate(statuses)]


def all_reports(pull_report):
    reports = {s.name: {} for s in STAGES}
    reports["pull"] = pull_report
    return reports


def test_summary_of_a_complete_run_lists_every_stage_and_failed_inputs():
    summary = run_summary(DAY, "abc", all_reports(pulls("ok", "missing")))
    assert list(summary) == ["partition", "config_hash", *(s.summary_key for s in STAGES), "status",
                             "failed_inputs"]
    assert summary["status"] == "success" and summary["failed_inputs"] == [f"t1 {DAY}: missing"]
    unreadable = run_summary(DAY, "abc", all_reports(pulls("ok", "error")))
    assert unreadable["status"] == "partial"
    assert unreadable["failed_inputs"] == [f"t1 {DAY}: error (bad file)"]


def test_summary_of_a_failed_run_stops_at_the_failed_stage():
    reports = {"pull": pulls("ok"), "validate": []}
    summary = run_summary(DAY, "abc", reports, "task 'detect' did not succeed")
    assert summary["status"] == "failed" and summary["error"] == "task 'detect' did not succeed"
    assert "detections" not in summary and summary["checks"] == []
    # Stopped by an unexpected error: no status (the run is closed as failed), no stage after the gap.
    assert "status" not in run_summary(DAY, "abc", reports)


# ---- no hidden state in the environment --------------------------------------------------
def test_state_url_override_is_read_once_when_the_config_is_loaded(tmp_path, monkeypatch):
    monkeypatch.delenv("MQ_STATE_URL", raising=False)
    config = load_config(write(tmp_path, BASE))
    assert config.state_url == f"sqlite:///{tmp_path / '.mq' / 'state.db'}"
    monkeypatch.setenv("MQ_STATE_URL", "postgresql://root@127.0.0.1/test")
    assert config.state_url == f"sqlite:///{tmp_path / '.mq' / 'state.db'}"   # loaded before: unchanged
    assert load_config(write(tmp_path, BASE)).state_url == "postgresql://root@127.0.0.1/test"
    # An explicit environment replaces the process's, for ${VAR} and MQ_STATE_URL alike.
    given = load_config(write(tmp_path, BASE), environ={"MQ_STATE_URL": "sqlite:///elsewhere.db"})
    assert given.state_url == "sqlite:///elsewhere.db"


def test_demo_out_reaches_the_config_without_changing_the_environment(tmp_path, monkeypatch, capsys):
    from mq.cli import main

    monkeypatch.delenv("MQ_DEMO_DIR", raising=False)
    monkeypatch.delenv("MQ_CONFIG", raising=False)
    out = tmp_path / "demo"
    code = main(["--config", str(DEMO_CONFIG), "demo", "--out", str(out), "--days", "56",
                 "--daily-events", "100", "--generate-only"])
    assert code == 0
    assert f"demo warehouse: {out / 'warehouse'}" in capsys.readouterr().out
    assert {"client_events", "warehouse_events"} <= {p.name for p in (out / "warehouse").iterdir()}
    assert "MQ_DEMO_DIR" not in os.environ


def test_links_name_the_airflow_run_only_when_the_run_is_given_one(tmp_path, monkeypatch):
    from mq.pipeline import Pipeline

    monkeypatch.setenv("MQ_AIRFLOW_RUN_URL", "http://stale.example/dags/x/runs/old")   # no longer read
    config = load_config(write(tmp_path, BASE))
    pipe = Pipeline(config, state_url=f"sqlite:///{tmp_path / 'state.db'}")
    try:
        report = (tmp_path / ".mq" / "report" / "index.html").as_uri()
        assert pipe.links(DAY) == {"Report": report}
        url = "http://127.0.0.1:8080/dags/metrics_quality_daily/runs/manual__2026-09-18"
        assert pipe.links(DAY, run_url=url) == {"Airflow run": url, "Report": report}
    finally:
        pipe.engine.dispose()


# ---- the default alert sink --------------------------------------------------------------
@pytest.mark.parametrize("workdir", ["work", "ABSOLUTE"])
def test_default_file_sink_writes_under_workdir(tmp_path, workdir):
    from alerting.notification import Notification
    from mq.receivers import build_receivers

    folder = tmp_path / "abs-work" if workdir == "ABSOLUTE" else tmp_path / workdir
    config = load_config(write(tmp_path, BASE + f"workdir: {folder if workdir == 'ABSOLUTE' else workdir}\n"))
    sink = build_receivers(config)["local"]
    assert sink.path == folder / "alerts" / "notifications.jsonl"
    sink.deliver(Notification(key="k1", thread_key="t1", action="firing", title="events freshness",
                              severity="warning", kind="freshness", metric="event_count",
                              partition=DAY.isoformat(), alerts=()), None)
    assert len((folder / "alerts" / "notifications.jsonl").read_text().splitlines()) == 1
    assert not (tmp_path / ".mq").exists()


def test_default_file_sink_without_workdir_is_in_the_default_workdir(tmp_path):
    from mq.receivers import build_receivers

    config = load_config(write(tmp_path, BASE))
    assert build_receivers(config)["local"].path == tmp_path / ".mq" / "alerts" / "notifications.jsonl"
    assert config.alerting.route.receiver == "local"


def test_declared_receivers_keep_their_paths(tmp_path):
    from mq.receivers import build_receivers

    declared = "workdir: work\nalerting:\n  receivers: [{name: local, file: a.jsonl}]\n"
    config = load_config(write(tmp_path, BASE + declared))
    assert build_receivers(config)["local"].path == tmp_path / "a.jsonl"
