"""Slack delivery through the real slack-sdk WebClient against the local Slack test server."""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import socket

import pytest
from slack_server import running_slack_server

from alerting.blockkit import render
from alerting.chart import render_chart
from alerting.notification import AlertLine, Notification, RetryableDeliveryError
from alerting.outbox import Outbox
from alerting.receivers.slack import SlackReceiver
from mq.errors import DeliveryError
from conftest import migrated

CHANNEL = "C0ALERTS"
LATER = dt.timedelta(hours=2)


@pytest.fixture
def slack_server():
    with running_slack_server() as server:
        yield server


@pytest.fixture
def outbox(sqlite_url):
    box = Outbox(migrated(sqlite_url), base_backoff_seconds=1, max_backoff_seconds=60)
    box.install()
    return box


def _notification(action="firing", key=None, chart=None) -> Notification:
    alert = AlertLine("fp-1", "anomaly", "purchase_events", {"platform": "ios"}, "2024-05-01", "critical",
                      observed=120.0, expected=400.0, lower=350.0, upper=450.0)
    return Notification(key=key or f"purchase_events/2024-05-01/{action}", thread_key="purchase_events/ios",
                        action=action, title="purchase_events dropped", severity="critical", kind="anomaly",
                        metric="purchase_events", partition="2024-05-01", alerts=(alert,), chart_png=chart)


def _receiver(server, token=None, **kwargs) -> SlackReceiver:
    kwargs.setdefault("http_retries", 0)
    kwargs.setdefault("backoff_factor", 0.01)
    return SlackReceiver("slack", CHANNEL, token=token or server.token, base_url=server.api_url, **kwargs)


def test_firing_posts_the_rendered_message_and_uploads_the_chart_in_its_thread(slack_server):
    png = render_chart(["2024-04-29", "2024-04-30", "2024-05-01"], [400, 410, 120], [400, 400, 400],
                       [350, 350, 350], [450, 450, 450], [False, False, True], width_px=300, height_px=200)
    n = _notification(chart=png)

    ts = _receiver(slack_server).deliver(n, None)

    (post,) = slack_server.calls("chat.postMessage")
    text, blocks = render(n)
    assert post.body["channel"] == CHANNEL and post.body["text"] == text and post.body["blocks"] == blocks
    assert "thread_ts" not in post.body
    (upload,) = slack_server.calls("upload")
    assert upload.raw == png and png.startswith(b"\x89PNG")
    (complete,) = slack_server.calls("files.completeUploadExternal")
    assert complete.body["thread_ts"] == ts and complete.body["channel_id"] == CHANNEL


def test_repeat_and_resolution_share_the_thread_and_resolution_updates_the_parent(slack_server, outbox):
    for action in ("firing", "repeat", "resolved"):
        assert outbox.enqueue("slack", _notification(action))

    summary = outbox.drain({"slack": _receiver(slack_server)})

    assert (summary.delivered, summary.pending) == (3, 0)
    parent, repeat, resolved = slack_server.calls("chat.postMessage")
    parent_ts = outbox.items()[0].delivery_ref
    assert "thread_ts" not in parent.body
    assert repeat.body["thread_ts"] == parent_ts and resolved.body["thread_ts"] == parent_ts
    (update,) = slack_server.calls("chat.update")
    assert update.body["ts"] == parent_ts
    assert slack_server.messages[parent_ts]["blocks"][0]["text"]["text"].startswith(":white_check_mark: Resolved:")


def test_rate_limit_429_with_retry_after_is_retried_by_slack_sdk(slack_server):
    slack_server.fail_next("chat.postMessage", status=429, retry_after=1)

    ts = _receiver(slack_server, http_retries=2).deliver(_notification(), None)

    assert ts in slack_server.messages
    assert len(slack_server.calls("chat.postMessage")) == 2


def test_server_error_500_is_retried_by_slack_sdk(slack_server):
    slack_server.fail_next("chat.postMessage", status=500)

    ts = _receiver(slack_server, http_retries=2).deliver(_notification(), None)

    assert ts in slack_server.messages
    assert len(slack_server.calls("chat.postMessage")) == 2


@pytest.mark.parametrize("failure, in_error", [
    ({"status": 429, "retry_after": 1}, "rate limited"),
    ({"status": 500}, "HTTP 500"),
    ({"status": 503}, "HTTP 503"),
])
def test_outbox_keeps_a_transient_failure_pending_and_delivers_it_later(slack_server, outbox, failure, in_error):
    outbox.enqueue("slack", _notification())
    slack_server.fail_next("chat.postMessage", **failure)
    now = dt.datetime.now(dt.timezone.utc)

    first = outbox.drain({"slack": _receiver(slack_server)}, now=now)

    assert (first.delivered, first.retried, first.pending) == (0, 1, 1)
    (item,) = outbox.pending()
    assert item.attempts == 1 and item.failure_kind == "retryable" and in_error in item.last_error
    assert item.next_attempt_at >= now + dt.timedelta(seconds=1)
    assert outbox.drain({"slack": _receiver(slack_server)}, now=now).delivered == 0  # not due yet
    second = outbox.drain({"slack": _receiver(slack_server)}, now=now + LATER)
    assert (second.delivered, second.pending) == (1, 0)
    assert outbox.items()[0].delivery_ref in slack_server.messages


def test_retry_after_longer_than_the_backoff_is_honoured(slack_server, outbox):
    outbox.enqueue("slack", _notification())
    slack_server.fail_next("chat.postMessage", status=429, retry_after=90)
    now = dt.datetime.now(dt.timezone.utc)

    outbox.drain({"slack": _receiver(slack_server)}, now=now)

    assert outbox.pending()[0].next_attempt_at >= now + dt.timedelta(seconds=90)


def test_a_long_retry_after_goes_back_to_the_outbox_instead_of_sleeping(slack_server, outbox):
    """slack-sdk's own 429 handler sleeps any Retry-After in-process; only a short one is waited here."""
    outbox.enqueue("slack", _notification())
    slack_server.fail_next("chat.postMessage", status=429, retry_after=30)
    now = dt.datetime.now(dt.timezone.utc)

    summary = outbox.drain({"slack": _receiver(slack_server, http_retries=2)}, now=now)

    assert (summary.retried, summary.pending) == (1, 1)
    assert len(slack_server.calls("chat.postMessage")) == 1           # no in-process wait-and-retry
    assert outbox.pending()[0].next_attempt_at >= now + dt.timedelta(seconds=30)


def test_deliver_now_retries_items_still_in_backoff(slack_server, outbox):
    outbox.enqueue("slack", _notification())
    slack_server.fail_next("chat.postMessage", status=500)
    now = dt.datetime.now(dt.timezone.utc)
    outbox.drain({"slack": _receiver(slack_server)}, now=now)
    assert outbox.drain({"slack": _receiver(slack_server)}, now=now).delivered == 0   # still backing off

    assert outbox.make_due(now=now) == 1
    assert outbox.drain({"slack": _receiver(slack_server)}, now=now).delivered == 1


def test_invalid_auth_stays_queued_with_a_clear_error_and_delivers_after_the_token_is_fixed(slack_server, outbox):
    for partition in ("2024-05-01", "2024-05-02", "2024-05-03"):
        outbox.enqueue("slack", _notification(key=f"k/{partition}"))
    bad = _receiver(slack_server, token="xoxb-revoked-token")

    summary = outbox.drain({"slack": bad})

    assert (summary.delivered, summary.failed_permanent, summary.pending) == (0, 1, 3)
    assert len(slack_server.calls("chat.postMessage")) == 1  # the receiver is not hammered once it is known bad
    first = outbox.pending()[0]
    assert first.failure_kind == "permanent"
    assert "invalid_auth" in first.last_error and "MQ_SLACK_TOKEN" in first.last_error
    assert outbox.drain({"slack": bad}).failed_permanent == 1  # still queued, still failing

    fixed = outbox.drain({"slack": _receiver(slack_server)})

    assert (fixed.delivered, fixed.pending) == (3, 0)
    assert outbox.pending() == []


@pytest.mark.parametrize("error, hint", [
    ("channel_not_found", "check the channel ID"),
    ("not_in_channel", "/invite"),
])
def test_channel_errors_say_what_to_fix_and_deliver_after_the_fix(slack_server, outbox, error, hint):
    outbox.enqueue("slack", _notification())
    slack_server.fail_next("chat.postMessage", error=error)

    assert outbox.drain({"slack": _receiver(slack_server)}).failed_permanent == 1
    (item,) = outbox.pending()
    assert error in item.last_error and hint in item.last_error and CHANNEL in item.last_error

    assert outbox.drain({"slack": _receiver(slack_server)}).delivered == 1


def test_a_failed_chart_upload_is_retried_without_posting_the_message_twice(slack_server, outbox):
    outbox.enqueue("slack", _notification(chart=b"\x89PNG\r\n\x1a\nchart"))
    slack_server.fail_next("files.getUploadURLExternal", status=500)
    now = dt.datetime.now(dt.timezone.utc)

    assert outbox.drain({"slack": _receiver(slack_server)}, now=now).retried == 1
    assert outbox.drain({"slack": _receiver(slack_server)}, now=now + LATER).delivered == 1

    (post,) = slack_server.calls("chat.postMessage")
    (complete,) = slack_server.calls("files.completeUploadExternal")
    assert complete.body["thread_ts"] == outbox.items()[0].delivery_ref


def test_unreachable_slack_is_retryable(slack_server):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    receiver = SlackReceiver("slack", CHANNEL, token=slack_server.token, base_url=f"http://127.0.0.1:{port}/api/",
                             http_retries=0)
    with pytest.raises(RetryableDeliveryError, match="chat.postMessage"):
        receiver.deliver(_notification(), None)


def test_missing_token_is_a_delivery_error_naming_the_variable(monkeypatch, slack_server):
    monkeypatch.delenv("MQ_SLACK_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with pytest.raises(DeliveryError, match="MQ_SLACK_TOKEN"):
        SlackReceiver("slack", CHANNEL, base_url=slack_server.api_url).deliver(_notification(), None)


@pytest.mark.parametrize("variable", ["MQ_SLACK_TOKEN", "SLACK_BOT_TOKEN"])
def test_token_comes_from_the_environment(monkeypatch, slack_server, variable):
    monkeypatch.delenv("MQ_SLACK_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setenv(variable, slack_server.token)

    SlackReceiver("slack", CHANNEL, base_url=slack_server.api_url).deliver(_notification(), None)

    assert slack_server.calls("chat.postMessage")[0].authorization == f"Bearer {slack_server.token}"


def test_the_token_never_appears_in_logs_repr_or_stored_errors(slack_server, outbox, caplog):
    secret = "xoxb-9999-very-secret-token"
    slack_server.valid_tokens.add(secret)
    caplog.set_level(logging.DEBUG)
    outbox.enqueue("slack", _notification(chart=b"\x89PNG\r\n\x1a\nchart"))
    outbox.enqueue("slack", _notification("repeat"))
    slack_server.fail_next("chat.postMessage", status=500)
    slack_server.fail_next("files.completeUploadExternal", error="invalid_auth")
    receiver = _receiver(slack_server, token=secret, http_retries=1)

    outbox.drain({"slack": receiver})
    outbox.drain({"slack": receiver}, now=dt.datetime.now(dt.timezone.utc) + LATER)

    assert outbox.pending() == [] and slack_server.calls("files.completeUploadExternal")
    assert "invalid_auth" in caplog.text  # the failure was logged, the token was not
    assert secret not in caplog.text
    assert secret not in repr(receiver) and secret not in str(receiver)
    assert all(secret not in (item.last_error or "") for item in outbox.items())


def test_receiver_validates_its_arguments():
    with pytest.raises(ValueError, match="channel"):
        SlackReceiver("slack", "", token="x")
    with pytest.raises(ValueError, match="name"):
        SlackReceiver("", CHANNEL, token="x")


def test_resolution_without_a_known_parent_posts_a_new_message(slack_server):
    ts = _receiver(slack_server).deliver(dataclasses.replace(_notification("resolved")), None)

    (post,) = slack_server.calls("chat.postMessage")
    assert "thread_ts" not in post.body and ts in slack_server.messages
    assert slack_server.calls("chat.update") == []


def test_a_chart_refused_for_good_is_skipped_with_a_warning_and_the_message_counts_as_sent(slack_server, caplog):
    slack_server.fail_next("files.getUploadURLExternal", error="missing_scope")

    ts = _receiver(slack_server).deliver(_notification(chart=b"\x89PNG\r\n\x1a\nchart"), None)

    assert ts in slack_server.messages and slack_server.calls("files.completeUploadExternal") == []
    assert "missing_scope" in caplog.text and "without its chart" in caplog.text


def test_resolution_with_a_channel_name_still_replies_when_the_update_needs_an_id(slack_server):
    slack_server.fail_next("chat.update", error="channel_not_found")
    receiver = SlackReceiver("slack", "#data-alerts", token=slack_server.token, base_url=slack_server.api_url,
                             http_retries=0)

    receiver.deliver(_notification("resolved"), "1700000000.000100")

    (reply,) = slack_server.calls("chat.postMessage")
    assert reply.body["thread_ts"] == "1700000000.000100"


def test_a_timeout_is_retryable(slack_server):
    slack_server.fail_next("chat.postMessage", delay=1.5)
    receiver = _receiver(slack_server, timeout=1)

    with pytest.raises(RetryableDeliveryError, match="chat.postMessage.*(timed out|Timeout)"):
        receiver.deliver(_notification(), None)
