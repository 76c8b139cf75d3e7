"""The deliver stage as a function: receivers built from the config, an outbox on an in-memory SQLite,
and a Slack channel served by the local Slack-compatible server. A post that fails for now is sent
once, later; what no configured receiver takes stays queued."""
from __future__ import annotations

import datetime as dt
import textwrap

import pytest
import sqlalchemy as sa
from slack_server import running_slack_server
from sqlalchemy.pool import StaticPool

from alerting.notification import AlertLine, Notification
from alerting.outbox import Outbox
from metricstore import MetricStore
from mq.config import load_config
from mq.stages.deliver import DeliverSettings, deliver

NOW = dt.datetime.now(dt.timezone.utc)
CONFIG = """
version: 1
tables:
  events: {path: /data/events}
alerting:
  receivers:
    - {name: slack, slack: {channel: C0ALERTS, base_url: BASE_URL}}
    - {name: local, file: out/alerts.jsonl}
"""


@pytest.fixture
def slack_server():
    with running_slack_server() as server:
        yield server


@pytest.fixture
def settings(tmp_path, slack_server, monkeypatch) -> DeliverSettings:
    monkeypatch.setenv("MQ_SLACK_TOKEN", slack_server.token)
    path = tmp_path / "mq.yml"
    path.write_text(textwrap.dedent(CONFIG).replace("BASE_URL", slack_server.api_url))
    return DeliverSettings.from_config(load_config(path))


@pytest.fixture
def outbox():
    engine = sa.create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    MetricStore(engine).install()   # the state store's migrations create the outbox's tables
    box = Outbox(engine)
    box.install()
    yield box
    engine.dispose()


def notification(key: str = "client_events|2026-09-30|firing") -> Notification:
    line = AlertLine("fp-1", "anomaly", "client_events", {"platform": "android"}, "2026-09-30", "warning",
                     observed=610.0, expected=1000.0, lower=900.0, upper=1100.0)
    return Notification(key=key, thread_key="client_events|2026-09-30", action="firing",
                        title="client_events dropped on platform=android", severity="warning", kind="anomaly",
                        metric="client_events", partition="2026-09-30", alerts=(line,))


def test_settings_build_the_configured_receivers(settings, tmp_path):
    assert sorted(settings.receivers) == ["local", "slack"]
    assert settings.receivers["local"].path == tmp_path / "out/alerts.jsonl"


def test_a_post_failing_for_now_is_retried_later_and_sent_once(settings, outbox, slack_server):
    outbox.enqueue("slack", notification(), now=NOW)
    slack_server.fail_next("chat.postMessage", status=429, retry_after=60)   # longer than slack-sdk waits

    first = deliver(settings, outbox, now=NOW)
    assert first.summary == {"delivered": 0, "retried": 1, "failed_permanent": 0, "pending": 1}
    assert not slack_server.messages
    assert deliver(settings, outbox, now=NOW + dt.timedelta(seconds=5)).delivered == 0   # not due yet

    later = deliver(settings, outbox, now=NOW + dt.timedelta(hours=2))
    assert (later.delivered, later.pending) == (1, 0)
    (message,) = slack_server.messages.values()
    assert "client_events" in str(message)
    assert deliver(settings, outbox, now=NOW + dt.timedelta(hours=3)).delivered == 0     # a re-run sends nothing
    assert len(slack_server.messages) == 1


def test_a_post_that_needs_a_fix_stays_queued_saying_why(settings, outbox, slack_server):
    outbox.enqueue("slack", notification(), now=NOW)
    slack_server.fail_next("chat.postMessage", error="channel_not_found")
    done = deliver(settings, outbox, now=NOW)
    assert (done.failed_permanent, done.delivered, done.pending) == (1, 0, 1)
    (item,) = outbox.pending()
    assert item.failure_kind == "permanent" and "channel 'C0ALERTS' does not exist" in item.last_error
    assert not slack_server.messages
    fixed = deliver(settings, outbox, now=NOW + dt.timedelta(minutes=1))   # the channel exists again
    assert (fixed.delivered, fixed.pending) == (1, 0) and len(slack_server.messages) == 1


def test_items_for_a_receiver_not_configured_stay_queued(settings, outbox, slack_server):
    outbox.enqueue("pager", notification(), now=NOW)
    outbox.enqueue("local", notification(), now=NOW)
    done = deliver(settings, outbox, now=NOW)
    assert (done.delivered, done.pending) == (1, 1)
    (left,) = outbox.pending()
    assert left.receiver == "pager"
    assert len(settings.receivers["local"].path.read_text().splitlines()) == 1
