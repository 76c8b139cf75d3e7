"""A restatement (late data: a new pull version of a partition already alerted on) updates the alert
and posts one correction reply in the incident's Slack thread, never again on a re-run."""
from __future__ import annotations

import datetime as dt

import pytest

from mq.config import Config
from mq.pipeline import Pipeline
from slack_server import running_slack_server

DAY = dt.date(2026, 9, 1)


@pytest.fixture
def slack(monkeypatch):
    with running_slack_server() as server:
        monkeypatch.setenv("MQ_SLACK_TOKEN", server.token)
        monkeypatch.setenv("MQ_SLACK_BASE_URL", server.api_url)
        yield server


def _pulled(pipe, version_hash: str, observed: float, anomaly: bool) -> None:
    """What the pull and detect stages store for DAY: a pull version and the total's verdict."""
    pipe.store.record_pull({"table_name": "events", "partition": DAY, "status": "ok",
                            "row_count": int(observed), "content_hash": version_hash}, None)
    pipe.store.save_detections("events", DAY, [{
        "slice_key": "(total)", "detector": "seasonal_mad", "labels": {}, "status": "anomaly" if anomaly else "ok",
        "observed": observed, "expected": 1000.0, "lower": 900.0, "upper": 1100.0, "score": 5.0,
        "p_value": 1e-6, "q_value": 1e-5, "direction": "low" if anomaly else None, "run_id": "r"}])


def _run(pipe, slack) -> list[str]:
    """Alert and deliver DAY; the text of every message posted so far."""
    pipe.alert(DAY)
    pipe.deliver()
    return [p.body["text"] for p in slack.calls("chat.postMessage")]


def test_a_restated_partition_is_corrected_once_in_its_thread(tmp_path, migrated_store_url, slack):
    config = Config.model_validate({
        "workdir": str(tmp_path), "tables": {"events": {"path": "/x"}},
        "metrics": {"events": {"table": "events", "detectors": [{"name": "seasonal_mad"}]}},
        "alerting": {"receivers": [{"name": "dq", "slack": {"channel": "C0DQ"}}], "route": {"receiver": "dq"}}})
    pipe = Pipeline(config, state_url=migrated_store_url)
    _pulled(pipe, "v1", 600.0, anomaly=True)
    (fired,) = _run(pipe, slack)
    (parent_ts,) = slack.messages
    assert "600" in fired

    _pulled(pipe, "v2", 800.0, anomaly=True)          # late rows: still low, by less
    posts = _run(pipe, slack)
    assert len(posts) == 2 and "late data restated 2026-09-01" in posts[1] and "800" in posts[1]
    (alert,) = pipe.alerts.alerts()
    assert (alert["observed"], alert["status"]) == (800.0, "firing")
    assert "800" in alert["message"]
    assert len(_run(pipe, slack)) == 2                 # a re-run corrects nothing again

    _pulled(pipe, "v3", 1000.0, anomaly=False)        # the rest arrived: the day is normal after all
    posts = _run(pipe, slack)
    assert len(posts) == 3 and "back within the expected range" in posts[2]
    assert len(_run(pipe, slack)) == 3
    # both corrections are replies in the incident's thread
    assert [p.body.get("thread_ts") for p in slack.calls("chat.postMessage")] == [None, parent_ts, parent_ts]
