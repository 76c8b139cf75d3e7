"""Every receiver behind the same interface, the webhook and file sink in detail, and the chart."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from slack_server import running_slack_server

from alerting.chart import render_chart
from alerting.notification import AlertLine, Notification, RetryableDeliveryError
from alerting.outbox import Outbox
from alerting.receivers import Receiver
from alerting.receivers.filesink import FileSinkReceiver
from alerting.receivers.slack import SlackReceiver
from alerting.receivers.webhook import WebhookReceiver
from mq.errors import DeliveryError
from conftest import migrated


@contextlib.contextmanager
def running_webhook_server():
    """Records JSON bodies; `answers` is a list of (status, headers) to give before answering 200."""
    state = {"bodies": [], "answers": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            state["bodies"].append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            status, headers = state["answers"].pop(0) if state["answers"] else (200, {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}/hooks/T000/B000/secret-path"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def _notification(action="firing") -> Notification:
    alert = AlertLine("fp-1", "ratio", "signups", {"country": "BR"}, "2024-05-01", "warning",
                      observed=0.91, expected=1.0, lower=0.97, upper=1.03)
    return Notification(key=f"signups/{action}", thread_key="signups/BR", action=action, title="signups ratio off",
                        severity="warning", kind="ratio", metric="signups", partition="2024-05-01", alerts=(alert,))


@pytest.fixture(params=["slack", "file", "webhook"])
def any_receiver(request, tmp_path):
    if request.param == "file":
        yield FileSinkReceiver("file", tmp_path / "out.jsonl")
    elif request.param == "slack":
        with running_slack_server() as server:
            yield SlackReceiver("slack", "C0ALERTS", token=server.token, base_url=server.api_url)
    else:
        with running_webhook_server() as hook:
            yield WebhookReceiver("webhook", hook["url"])


def test_every_receiver_threads_a_firing_and_its_resolution(any_receiver):
    assert isinstance(any_receiver, Receiver)
    ref = any_receiver.deliver(_notification("firing"), None)
    assert ref
    assert any_receiver.deliver(_notification("resolved"), ref)


def test_webhook_sends_the_notification_data(tmp_path):
    with running_webhook_server() as hook:
        ref = WebhookReceiver("hook", hook["url"]).deliver(_notification(), None)
        (body,) = hook["bodies"]
    assert ref == "signups/firing"
    assert Notification.from_json(body["notification"]) == _notification()
    assert body["text"].startswith("[WARNING]")


def test_webhook_in_slack_format_sends_text_and_blocks():
    with running_webhook_server() as hook:
        WebhookReceiver("hook", hook["url"], format="slack").deliver(_notification(), None)
        (body,) = hook["bodies"]
    assert set(body) == {"text", "blocks"} and body["blocks"][0]["type"] == "header"


@pytest.mark.parametrize("status, headers, error, in_message", [
    (429, {"Retry-After": "30"}, RetryableDeliveryError, "HTTP 429"),
    (503, {}, RetryableDeliveryError, "HTTP 503"),
    (404, {}, DeliveryError, "check the URL"),
])
def test_webhook_failures_are_classified(status, headers, error, in_message):
    with running_webhook_server() as hook:
        hook["answers"].append((status, headers))
        receiver = WebhookReceiver("hook", hook["url"])
        with pytest.raises(error, match=in_message) as caught:
            receiver.deliver(_notification(), None)
    assert "secret-path" not in str(caught.value) and "secret-path" not in repr(receiver)
    if status == 429:
        assert caught.value.retry_after == 30


def test_webhook_retry_through_the_outbox(sqlite_url):
    box = Outbox(migrated(sqlite_url), base_backoff_seconds=5)
    box.install()
    box.enqueue("hook", _notification())
    now = dt.datetime.now(dt.timezone.utc)
    with running_webhook_server() as hook:
        hook["answers"].append((502, {}))
        receivers = {"hook": WebhookReceiver("hook", hook["url"])}
        assert box.drain(receivers, now=now).retried == 1
        assert box.drain(receivers, now=now + dt.timedelta(minutes=1)).delivered == 1
        assert len(hook["bodies"]) == 2


def test_webhook_rejects_a_bad_url():
    with pytest.raises(ValueError, match="http"):
        WebhookReceiver("hook", "ftp://example.org/x")


def test_file_sink_failure_names_the_path(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(DeliveryError, match="not-a-dir"):
        FileSinkReceiver("file", blocker / "out.jsonl").deliver(_notification(), None)


def test_chart_is_a_png_of_the_requested_size():
    rng = np.random.default_rng(7)
    dates = [dt.date(2024, 4, 1) + dt.timedelta(days=i) for i in range(28)]
    values = 100 + rng.normal(0, 2, 28)
    values[20] = 60
    png = render_chart(dates, values, np.full(28, 100.0), np.full(28, 94.0), np.full(28, 106.0),
                       np.arange(28) == 20, title="signups", width_px=400, height_px=200)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (400, 200)


def test_chart_refuses_arrays_of_different_lengths():
    with pytest.raises(ValueError, match="same length"):
        render_chart([1, 2], [1.0], [1.0, 1.0], [0.0, 0.0], [2.0, 2.0], [False, False])
