"""The alert path: routing tree, dedup on re-runs, incidents, silences, inhibition, resolution."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
import yaml

from alerting.alert import Alert
from alerting.dispatch import build_notifications
from alerting.lifecycle import AlertBook
from alerting.route import route
from metricstore import make_engine
from mq.config import AlertingSpec, RouteSpec
from conftest import migrated

D1, D2, D3 = dt.date(2026, 9, 17), dt.date(2026, 9, 18), dt.date(2026, 9, 19)
NOW = dt.datetime(2026, 9, 20, 8, tzinfo=dt.timezone.utc)

TREE = RouteSpec.model_validate(yaml.safe_load("""
receiver: default
group_by: [partition]
routes:
  - matchers: {kind: freshness}
    receiver: data-eng
  - matchers: {team: growth}
    receiver: growth
    continue: true
  - matchers: {severity: critical}
    receiver: oncall
    group_by: [kind, metric]
    routes:
      - matchers: {platform: "~android|ios"}
        receiver: mobile-oncall
"""))


def alert(kind="discrepancy", labels=None, day=D1, severity="warning", team=None, subject="pair") -> Alert:
    return Alert(kind, subject, labels if labels is not None else {"platform": "android"}, day, severity,
                 f"{kind} on {labels}", observed=0.8, expected=0.93, lower=0.91, upper=0.95, team=team)


@pytest.mark.parametrize("labels, receivers, group_by", [
    ({"kind": "freshness", "severity": "critical"}, ["data-eng"], ("partition",)),
    ({"kind": "anomaly", "severity": "warning"}, ["default"], ("partition",)),
    ({"kind": "anomaly", "severity": "critical", "platform": "web"}, ["oncall"], ("kind", "metric")),
    ({"kind": "anomaly", "severity": "critical", "platform": "ios"}, ["mobile-oncall"], ("kind", "metric")),
    ({"kind": "anomaly", "severity": "critical", "team": "growth"}, ["growth", "oncall"], ("partition",)),
])
def test_routing_tree(labels, receivers, group_by):
    found = route(TREE, labels)
    assert [d.receiver for d in found] == receivers
    assert found[0].group_by == group_by


def book(url) -> AlertBook:
    b = AlertBook(migrated(make_engine(url)))
    b.install()
    return b


def test_rerun_never_redecides_and_an_incident_spans_days(migrated_store_url):
    b = book(migrated_store_url)
    first = b.process(D1, [alert()], set(), TREE, NOW)
    assert [d.decision for d in first] == ["notify"]
    assert [d.decision for d in b.process(D1, [alert()], set(), TREE, NOW)] == ["duplicate"]
    assert [d.decision for d in b.process(D2, [alert(day=D2)], set(), TREE, NOW)] == ["continuing"]
    resolved = b.process(D3, [], {alert().fingerprint}, TREE, NOW)
    assert [d.decision for d in resolved] == ["resolve"]
    assert resolved[0].thread_key == first[0].thread_key          # the resolution goes to the same thread
    (incident,) = b.alerts()
    assert (incident["status"], incident["first_partition"], incident["last_partition"]) == ("resolved", D1, D2)
    # A backfill of the middle day after all this changes nothing.
    assert [d.decision for d in b.process(D2, [alert(day=D2)], set(), TREE, NOW)] == ["duplicate"]
    assert len(b.decisions()) == 3


def test_silence_mutes_and_is_recorded_with_its_reason(migrated_store_url):
    b = book(migrated_store_url)
    s = b.silences.create({"platform": "android"}, author="ana", reason="SDK fix rolling out",
                          expires_at=NOW + dt.timedelta(days=1), now=NOW - dt.timedelta(hours=1))
    (d,) = b.process(D1, [alert()], set(), TREE, NOW)
    assert d.decision == "silenced" and f"silence #{s.id} by ana: SDK fix rolling out" in d.reason
    assert not d.sends
    b.silences.expire(s.id, by="ana", now=NOW)
    (d2,) = b.process(D1, [alert(labels={"platform": "ios"})], set(), TREE, NOW + dt.timedelta(minutes=1))
    assert d2.decision == "notify"


def test_silence_needs_reason_and_future_expiry(sqlite_url):
    from mq.errors import MqError

    b = book(sqlite_url)
    with pytest.raises(MqError, match="must be in the future"):
        b.silences.create({"platform": "ios"}, author="a", reason="r", expires_at=NOW - dt.timedelta(days=1), now=NOW)
    with pytest.raises(MqError, match="--author and --reason are required"):
        b.silences.create({"platform": "ios"}, author="a", reason=" ", expires_at=NOW + dt.timedelta(days=1), now=NOW)


def test_missing_partition_inhibits_the_count_alerts_it_causes(sqlite_url):
    b = book(sqlite_url)
    freshness = alert("freshness", {"table": "warehouse_events"}, severity="critical", subject="warehouse_events")
    count = alert("anomaly", {}, subject="warehouse_events")
    decisions = {d.alert.kind: d for d in b.process(D1, [freshness, count], set(), TREE, NOW)}
    assert decisions["freshness"].decision == "notify"
    assert decisions["anomaly"].decision == "inhibited" and "freshness" in decisions["anomaly"].reason


def test_many_slices_of_one_incident_make_one_notification(sqlite_url):
    b = book(sqlite_url)
    slices = [alert(labels={"country": c}) for c in ("US", "IN", "BR", "DE")]
    notifications = build_notifications(b.process(D1, slices, set(), TREE, NOW))
    assert len(notifications) == 1
    receiver, n = notifications[0]
    assert receiver == "default" and n.action == "firing" and len(n.alerts) == 4


def test_eight_concurrent_runs_decide_once(migrated_pg_url):
    """Eight runs raising the same alert at once: exactly one of them notifies."""
    book(migrated_pg_url)
    results, barrier = [], threading.Barrier(8)

    def one_run():
        b = AlertBook(make_engine(migrated_pg_url))
        barrier.wait()
        results.extend(d.decision for d in b.process(D1, [alert()], set(), TREE, NOW))

    threads = [threading.Thread(target=one_run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["duplicate"] * 7 + ["notify"]
    assert len(AlertBook(make_engine(migrated_pg_url)).alerts()) == 1


def test_alerting_defaults_validate():
    assert AlertingSpec().route.receiver == "local"


def test_hysteresis_fires_after_n_breaches_and_resolves_after_m_clean_runs(sqlite_url):
    tree = RouteSpec(receiver="default", fire_after_runs=2, resolve_after_runs=2)
    b, days = book(sqlite_url), [D1 + dt.timedelta(days=i) for i in range(6)]
    fp = alert().fingerprint
    assert [d.decision for d in b.process(days[0], [alert(day=days[0])], set(), tree, NOW)] == ["pending"]
    (fired,) = b.process(days[1], [alert(day=days[1])], set(), tree, NOW)
    assert fired.decision == "notify"
    assert b.alerts()[0]["first_partition"] == days[0]           # the incident starts at the first breach
    assert [d.decision for d in b.process(days[2], [], {fp}, tree, NOW)] == []   # one clean run: not yet
    assert [d.decision for d in b.process(days[3], [], {fp}, tree, NOW)] == ["resolve"]
    assert [r["decision"] for r in b.decisions()] == ["pending", "notify", "clean", "resolve"]


def test_a_single_breach_with_hysteresis_never_fires(sqlite_url):
    tree = RouteSpec(receiver="default", fire_after_runs=2)
    b = book(sqlite_url)
    b.process(D1, [alert(day=D1)], set(), tree, NOW)
    assert b.process(D3, [alert(day=D3)], set(), tree, NOW)[0].decision == "pending"   # not consecutive
    assert b.alerts() == []


def test_flapping_fingerprint_is_muted_with_a_reason(sqlite_url):
    b = AlertBook(migrated(make_engine(sqlite_url)), flap_max_incidents=2, flap_window_days=14)
    b.install()
    fp, decisions = alert().fingerprint, []
    for i in range(0, 8, 2):   # breach, clean, breach, clean ...
        day = D1 + dt.timedelta(days=i)
        decisions += [d.decision for d in b.process(day, [alert(day=day)], set(), TREE, NOW)]
        decisions += [d.decision for d in b.process(day + dt.timedelta(days=1), [], {fp}, TREE, NOW)]
    assert decisions[:4] == ["notify", "resolve", "notify", "resolve"]
    assert decisions[4] == "flapping"
    assert "flapping: 2 incidents in the last 14 days" in b.alerts()[2]["suppressed"]


def _sent(decisions):
    return [(n.action, n.thread_key) for _, n in build_notifications(decisions)]


def test_one_incident_one_thread_whatever_slices_join_later(sqlite_url):
    """Day 1 fires two slices, day 2 a third slice joins while they still fire, day 3 is clean: one
    firing message, one reply (join and still-firing together), one resolved reply, all in one thread."""
    tree = RouteSpec(receiver="default", group_by=["partition"], repeat_interval_days=1)
    b = book(sqlite_url)
    us, br, android = (alert(labels={"country": "US"}), alert(labels={"country": "BR"}),
                       alert(kind="anomaly", labels={"platform": "android"}, subject="client_events"))
    day1 = _sent(b.process(D1, [us, br], set(), tree, NOW))
    day2 = _sent(b.process(D2, [alert(labels={"country": "US"}, day=D2),
                                alert(kind="anomaly", labels={"platform": "android"}, subject="client_events",
                                      day=D2)], {br.fingerprint}, tree, NOW))
    day3 = _sent(b.process(D3, [], {us.fingerprint, android.fingerprint}, tree, NOW))
    assert [a for a, _ in day1] == ["firing"] and [a for a, _ in day2] == ["repeat"]
    assert [a for a, _ in day3] == ["resolved"]
    assert len({t for _, t in day1 + day2 + day3}) == 1
    # BR went clean on day 2 while US still fired: recorded, but the thread is resolved once, on day 3.
    assert sorted(r["decision"] for r in b.decisions(D2, D2)) == ["join", "repeat", "resolved_in_thread"]


def test_a_new_incident_after_a_clean_day_starts_a_new_thread(sqlite_url):
    tree = RouteSpec(receiver="default", group_by=["partition"])
    b = book(sqlite_url)
    first = _sent(b.process(D1, [alert()], set(), tree, NOW))
    later = D3 + dt.timedelta(days=1)
    b.process(D2, [], {alert().fingerprint}, tree, NOW)
    again = _sent(b.process(later, [alert(labels={"country": "IN"}, day=later)], set(), tree, NOW))
    assert [a for a, _ in again] == ["firing"] and again[0][1] != first[0][1]


@pytest.mark.parametrize("send_resolved, sent", [(None, ["resolved"]), (False, [])])
def test_send_resolved_controls_the_resolution_reply(sqlite_url, send_resolved, sent):
    tree = RouteSpec(receiver="default", send_resolved=send_resolved)
    b = book(sqlite_url)
    b.process(D1, [alert()], set(), tree, NOW)
    decisions = b.process(D2, [], {alert().fingerprint}, tree, NOW)
    assert [a for a, _ in _sent(decisions)] == sent
    assert b.alerts()[0]["status"] == "resolved"


def test_every_receiver_of_a_continue_route_is_notified_once_across_reruns(migrated_store_url):
    """A `continue: true` route sends to two receivers: each gets its firing message and its resolved
    reply in its own thread, once, however often the days are re-run."""
    b = book(migrated_store_url)
    growth = alert(kind="anomaly", labels={}, severity="critical", team="growth", subject="signups")
    runs = [(D1, [growth], set()), (D2, [alert(kind="anomaly", labels={}, severity="critical", team="growth",
                                               subject="signups", day=D2)], set()), (D3, [], {growth.fingerprint})]
    sent = []
    for _ in range(2):   # the second pass is a re-run of the same days
        for day, candidates, clean in runs:
            sent += [(receiver, n.action) for receiver, n in build_notifications(
                b.process(day, candidates, clean, TREE, NOW))]
    assert sorted(sent) == [("growth", "firing"), ("growth", "resolved"),
                            ("oncall", "firing"), ("oncall", "resolved")]
    incidents = b.alerts()
    assert sorted((i["receiver"], i["status"], i["first_partition"], i["last_partition"]) for i in incidents) == [
        ("growth", "resolved", D1, D2), ("oncall", "resolved", D1, D2)]
    assert len({i["thread_key"] for i in incidents}) == 2


def test_a_silenced_incident_that_keeps_firing_is_never_repeated(migrated_store_url):
    """A muted incident has no thread to repeat in: it continues quietly past `repeat_interval_days`
    (a `repeat` without a thread made the alert stage fail on building its notification)."""
    tree = RouteSpec(receiver="default", repeat_interval_days=1)
    b = book(migrated_store_url)
    b.silences.create({"platform": "android"}, author="ana", reason="SDK fix rolling out",
                      expires_at=NOW + dt.timedelta(days=7), now=NOW - dt.timedelta(hours=1))
    decided = []
    for day in (D1, D2, D3):
        decisions = b.process(day, [alert(day=day)], set(), tree, NOW)
        assert build_notifications(decisions) == []
        decided += [d.decision for d in decisions]
    assert decided == ["silenced", "continuing", "continuing"]
