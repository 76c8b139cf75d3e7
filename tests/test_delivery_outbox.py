"""The outbox: idempotent enqueue, retries, ordering within a thread, and exactly-once under concurrency."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading

import pytest
import sqlalchemy as sa
from slack_server import running_slack_server

from alerting.notification import AlertLine, Notification, RetryableDeliveryError
from alerting.outbox import Outbox, outbox_table
from alerting.receivers.filesink import FileSinkReceiver
from alerting.receivers.slack import SlackReceiver
from mq.errors import DeliveryError
from conftest import migrated

NOW = dt.datetime(2024, 5, 1, 6, 0, tzinfo=dt.timezone.utc)


class ScriptedReceiver:
    """Answers each delivery with the next scripted outcome (an exception or a reference); records calls."""

    def __init__(self, name="fake", outcomes=()):
        self.name = name
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, str | None]] = []

    def deliver(self, n, thread_ref):
        self.calls.append((n.key, thread_ref))
        outcome = self.outcomes.pop(0) if self.outcomes else f"ref-{len(self.calls)}"
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _notification(action="firing", key=None, thread_key="orders/all") -> Notification:
    alert = AlertLine("fp-1", "volume", "orders", {}, "2024-05-01", "warning", observed=10.0, expected=20.0)
    return Notification(key=key or f"{thread_key}/{action}", thread_key=thread_key, action=action,
                        title="orders volume low", severity="warning", kind="volume", metric="orders",
                        partition="2024-05-01", alerts=(alert,))


@pytest.fixture
def outbox(migrated_store_url):
    box = Outbox(migrated(migrated_store_url), base_backoff_seconds=10, max_backoff_seconds=40)
    box.install()
    yield box
    box.engine.dispose()


def test_enqueue_is_idempotent_by_receiver_and_key(outbox):
    n = _notification()
    assert outbox.enqueue("fake", n, now=NOW) is True
    assert outbox.enqueue("fake", n, now=NOW) is False
    assert outbox.enqueue("other", n, now=NOW) is True
    receiver = ScriptedReceiver()

    assert outbox.drain({"fake": receiver}, now=NOW).delivered == 1
    assert outbox.enqueue("fake", n, now=NOW) is False  # a re-run after delivery sends nothing either
    assert outbox.drain({"fake": receiver}, now=NOW).delivered == 0
    assert receiver.calls == [(n.key, None)]


def test_install_twice_is_harmless(outbox):
    outbox.install()
    assert outbox.enqueue("fake", _notification(), now=NOW)


def test_retryable_failures_back_off_exponentially_up_to_the_cap(outbox):
    outbox.enqueue("fake", _notification(), now=NOW)
    receiver = ScriptedReceiver(outcomes=[RetryableDeliveryError("HTTP 503")] * 4)
    waits, now = [], NOW
    for _ in range(4):
        assert outbox.drain({"fake": receiver}, now=now).retried == 1
        (item,) = outbox.pending()
        waits.append((item.next_attempt_at - now).total_seconds())
        now = item.next_attempt_at
    assert waits == [10, 20, 40, 40]
    assert item.attempts == 4 and item.last_error == "HTTP 503"
    assert outbox.drain({"fake": receiver}, now=now).delivered == 1


def test_retry_after_wins_over_a_shorter_backoff(outbox):
    outbox.enqueue("fake", _notification(), now=NOW)
    outbox.drain({"fake": ScriptedReceiver(outcomes=[RetryableDeliveryError("429", retry_after=300)])}, now=NOW)
    assert outbox.pending()[0].next_attempt_at == NOW + dt.timedelta(seconds=300)


def test_repeats_wait_for_their_firing_message_and_reuse_its_thread(outbox):
    outbox.enqueue("fake", _notification("firing"), now=NOW)
    outbox.enqueue("fake", _notification("repeat"), now=NOW)
    outbox.enqueue("fake", _notification("resolved"), now=NOW)
    receiver = ScriptedReceiver(outcomes=[RetryableDeliveryError("timeout"), "1700.1", "1700.2", "1700.3"])

    first = outbox.drain({"fake": receiver}, now=NOW)
    assert (first.delivered, first.retried, first.pending) == (0, 1, 3)
    assert len(receiver.calls) == 1  # repeat and resolution held back behind the failed firing

    second = outbox.drain({"fake": receiver}, now=NOW + dt.timedelta(hours=1))
    assert second.delivered == 3
    assert receiver.calls[1:] == [("orders/all/firing", None), ("orders/all/repeat", "1700.1"),
                                  ("orders/all/resolved", "1700.1")]


def test_a_permanent_failure_stops_that_receiver_only_for_this_drain(outbox):
    outbox.enqueue("broken", _notification(key="a"), now=NOW)
    outbox.enqueue("broken", _notification(key="b", thread_key="other"), now=NOW)
    outbox.enqueue("fine", _notification(key="c"), now=NOW)
    broken = ScriptedReceiver("broken", outcomes=[DeliveryError("bad token: set MQ_SLACK_TOKEN")])
    fine = ScriptedReceiver("fine")

    summary = outbox.drain({"broken": broken, "fine": fine}, now=NOW)

    assert (summary.delivered, summary.failed_permanent, summary.pending) == (1, 1, 2)
    assert [c[0] for c in broken.calls] == ["a"]
    assert outbox.pending()[0].last_error == "bad token: set MQ_SLACK_TOKEN"
    assert outbox.drain({"broken": broken}, now=NOW).delivered == 2  # fixed: both go out


def test_a_bug_in_a_receiver_does_not_lose_the_notification(outbox):
    outbox.enqueue("fake", _notification(), now=NOW)
    outbox.drain({"fake": ScriptedReceiver(outcomes=[KeyError("boom")])}, now=NOW)
    (item,) = outbox.pending()
    assert item.failure_kind == "retryable" and "KeyError" in item.last_error


def test_items_for_receivers_not_given_are_left_alone(outbox):
    outbox.enqueue("elsewhere", _notification(), now=NOW)
    summary = outbox.drain({"fake": ScriptedReceiver()}, now=NOW)
    assert (summary.delivered, summary.pending) == (0, 1)
    assert outbox.pending()[0].attempts == 0


def test_max_attempts_per_call_bounds_one_drain(outbox):
    for i in range(5):
        outbox.enqueue("fake", _notification(key=f"k{i}", thread_key=f"t{i}"), now=NOW)
    receiver = ScriptedReceiver()
    assert outbox.drain({"fake": receiver}, now=NOW, max_attempts_per_call=2).delivered == 2
    assert outbox.drain({"fake": receiver}, now=NOW).delivered == 3


def test_a_claim_left_by_a_dead_worker_is_released_after_the_lease(outbox):
    outbox.enqueue("fake", _notification(), now=NOW)
    with outbox.engine.begin() as conn:
        conn.execute(outbox_table.update().values(status="sending", claimed_by="dead", claimed_at=NOW))
    receiver = ScriptedReceiver()
    assert outbox.drain({"fake": receiver}, now=NOW + dt.timedelta(seconds=60)).delivered == 0
    assert outbox.drain({"fake": receiver}, now=NOW + dt.timedelta(hours=1)).delivered == 1


def test_naive_now_is_refused(outbox):
    with pytest.raises(ValueError, match="timezone-aware"):
        outbox.drain({}, now=dt.datetime(2024, 5, 1))


def test_file_sink_through_the_outbox_writes_each_notification_once(outbox, tmp_path):
    sink = FileSinkReceiver("file", tmp_path / "alerts.jsonl")
    firing = dataclasses.replace(_notification("firing"), chart_png=b"\x89PNG fake")
    for n in (firing, _notification("resolved"), firing):
        outbox.enqueue("file", n, now=NOW)

    assert outbox.drain({"file": sink}, now=NOW).delivered == 2
    lines = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [line["notification"]["action"] for line in lines] == ["firing", "resolved"]
    assert lines[1]["thread_ref"] == firing.key
    assert lines[0]["notification"]["chart_png"]["bytes"] == len(b"\x89PNG fake")
    assert Notification.from_json(lines[1]["notification"]) == _notification("resolved")


def test_eight_concurrent_workers_send_exactly_one_slack_message(migrated_pg_url):
    n = _notification()
    migrated(migrated_pg_url).dispose()
    start = threading.Barrier(8)
    results, errors = [], []

    def worker(server):
        engine = sa.create_engine(migrated_pg_url, pool_size=2)
        try:
            box = Outbox(engine)
            start.wait()
            box.install()
            queued = box.enqueue("slack", n)
            receiver = SlackReceiver("slack", "C0ALERTS", token=server.token, base_url=server.api_url)
            results.append((queued, box.drain({"slack": receiver})))
        except Exception as exc:  # surfaced below with the worker's error
            errors.append(exc)
        finally:
            engine.dispose()

    with running_slack_server() as server:
        threads = [threading.Thread(target=worker, args=(server,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)

        assert errors == []
        assert len(server.calls("chat.postMessage")) == 1
        assert sum(queued for queued, _ in results) == 1
        assert sum(summary.delivered for _, summary in results) == 1
        (item,) = Outbox(migrated_pg_url).items()
        assert item.status == "delivered" and item.delivery_ref in server.messages
