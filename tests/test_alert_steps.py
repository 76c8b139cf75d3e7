"""The alert lifecycle's steps as plain functions of (state, alert, now): no database, no Spark.

Each step either passes an alert on (None) or decides, with a reason a person reads in the decision
record; the decisions form a closed set that README documents in full.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml

from alerting import steps
from alerting.alert import Alert
from alerting.decision import Decision, Outcome
from alerting.inhibit import DEFAULT_INHIBIT
from alerting.lifecycle import decide_run
from alerting.route import Destination
from alerting.silences import Silence
from alerting.state import RunState
from mq.config import InhibitRuleSpec, RouteSpec

D0, D1, D2, D3 = (dt.date(2026, 9, 16) + dt.timedelta(days=i) for i in range(4))
NOW = dt.datetime(2026, 9, 20, 8, tzinfo=dt.timezone.utc)
DEST = Destination("default", ("partition",), None, "root")
README = Path(__file__).resolve().parents[1] / "README.md"


def alert(kind="discrepancy", labels=None, day=D2, subject="pair", observed=0.8, table=None) -> Alert:
    return Alert(kind, subject, {"platform": "android"} if labels is None else labels, day,
                 "critical" if kind == "freshness" else "warning", f"{kind} on {subject}", observed=observed,
                 expected=0.93, lower=0.91, upper=0.95, table=table)


def incident(a: Alert, *, first=D1, last=D1, status="firing", resolved=None, receiver="default",
             suppressed=None, thread="default||2026-09-17", id=None) -> dict:
    return {"id": id or f"{a.fingerprint}-{first}", "fingerprint": a.fingerprint, "kind": a.kind,
            "subject": a.subject, "labels": dict(a.labels), "severity": a.severity, "status": status,
            "first_partition": first, "last_partition": last, "resolved_partition": resolved,
            "message": a.message, "observed": a.observed, "expected": a.expected, "lower": a.lower,
            "upper": a.upper, "impact": None, "root_causes": None, "team": None, "table_name": None,
            "receiver": receiver, "thread_key": thread, "suppressed": suppressed}


def state(partition=D2, candidates=(), silences=(), decided=None, incidents=(), values=None,
          rules=DEFAULT_INHIBIT, flap_max_incidents=3) -> RunState:
    return RunState(partition, list(candidates), list(silences), decided or {}, {i["id"]: i for i in incidents},
                    values or {}, tuple(rules), flap_max_incidents, 14)


def said(a: Alert, incident_id: str, receiver="default", revision=0) -> dict:
    return {"fingerprint": a.fingerprint, "partition": a.partition, "receiver": receiver, "alert_id": incident_id,
            "revision": revision, **steps.said(a)}


# ---- dedup ---------------------------------------------------------------------------------
def test_dedup_passes_an_undecided_partition_and_calls_a_decided_one_a_duplicate():
    a = alert()
    assert steps.dedup(state(), a, DEST, NOW) is None
    decided = {(a.fingerprint, "default"): {D2: "notify"}}
    v = steps.dedup(state(decided=decided), a, DEST, NOW)
    assert (v.outcome, v.reason) == (Outcome.DUPLICATE, "already decided for this partition (re-run or backfill)")
    # decided for another receiver only: this receiver still gets its own decision
    assert steps.dedup(state(decided={(a.fingerprint, "growth"): {D2: "notify"}}), a, DEST, NOW) is None


def test_dedup_turns_a_restated_partition_into_one_correction_in_its_thread():
    before, now = alert(observed=0.80), alert(observed=0.85)
    inc = incident(before, first=D2, last=D2)
    decided = {(before.fingerprint, "default"): {D2: "notify"}}
    values = {(before.fingerprint, D2, "default"): said(before, inc["id"])}
    v = steps.dedup(state(decided=decided, incidents=[inc], values=values), now, DEST, NOW)
    assert v.outcome == Outcome.CORRECT and v.thread_key == inc["thread_key"]
    assert v.reason == "late data restated 2026-09-18: was observed 0.8; observed 0.85 vs expected 0.93"
    assert v.extra["revision"] == 1
    # the same values again: nothing to correct
    assert steps.dedup(state(decided=decided, incidents=[inc], values=values), before, DEST, NOW).outcome \
        == Outcome.DUPLICATE


def test_a_restated_partition_that_was_never_notified_is_corrected_quietly():
    before = alert()
    inc = incident(before, first=D2, last=D2, suppressed="silence #1 by ana: fix", thread=None)
    values = {(before.fingerprint, D2, "default"): said(before, inc["id"])}
    v = steps.restatement(state(incidents=[inc], values=values), before.fingerprint, D2, "default", None)
    assert v.outcome == Outcome.CORRECTED_QUIETLY
    assert v.reason.endswith("within its expected range now; was never notified")


# ---- continuing incident -------------------------------------------------------------------
def test_an_adjacent_partition_continues_the_firing_incident_and_repeats_after_the_interval():
    a = alert()
    inc = incident(a, first=D1, last=D1)
    v = steps.continuing(state(incidents=[inc]), a, DEST, NOW)
    assert v.outcome == Outcome.CONTINUING and v.incident is inc
    assert v.reason == f"part of incident {inc['id']} (first partition 2026-09-17)"
    daily = Destination("default", ("partition",), 1, "root")
    assert steps.continuing(state(incidents=[inc]), a, daily, NOW).outcome == Outcome.REPEAT
    muted = incident(a, first=D1, last=D1, suppressed="silence #1 by ana: fix", thread=None)
    assert steps.continuing(state(incidents=[muted]), a, daily, NOW).outcome == Outcome.CONTINUING


def test_a_resolved_incident_holds_only_its_own_days():
    a = alert()
    inc = incident(a, first=D0, last=D1, status="resolved", resolved=D2)
    assert steps.continuing(state(incidents=[inc]), a, DEST, NOW) is None           # D2 was clean
    assert steps.continuing(state(incidents=[inc]), alert(day=D1), DEST, NOW).outcome == Outcome.CONTINUING
    assert steps.continuing(state(incidents=[incident(a, receiver="growth")]), a, DEST, NOW) is None


# ---- silence -------------------------------------------------------------------------------
def _silence(id=1, matchers=None, expires=NOW + dt.timedelta(days=1), expired_at=None) -> Silence:
    return Silence(id, matchers or {"platform": "android"}, "ana", "SDK fix rolling out",
                   NOW - dt.timedelta(days=1), expires, expired_at)


def test_an_active_matching_silence_mutes_with_who_and_why():
    v = steps.silence(state(silences=[_silence(7)]), alert(), DEST, NOW)
    assert (v.outcome, v.reason) == (Outcome.SILENCED, "silence #7 by ana: SDK fix rolling out")


@pytest.mark.parametrize("silence", [
    _silence(matchers={"platform": "ios"}),
    _silence(expires=NOW - dt.timedelta(minutes=1)),
    _silence(expired_at=NOW - dt.timedelta(hours=1)),
])
def test_a_silence_that_does_not_match_or_has_ended_lets_the_alert_through(silence):
    assert steps.silence(state(silences=[silence]), alert(), DEST, NOW) is None


# ---- inhibition ----------------------------------------------------------------------------
def test_by_default_a_missing_partition_inhibits_the_count_alerts_of_that_partition():
    fresh = alert("freshness", {"table": "warehouse_events"}, subject="warehouse_events", table="warehouse_events")
    count = alert("anomaly", {}, subject="warehouse_events")
    run = state(candidates=[fresh, count])
    v = steps.inhibition(run, count, DEST, NOW)
    assert (v.outcome, v.reason) == (Outcome.INHIBITED, "inhibited by freshness alert on warehouse_events "
                                                        "(table=warehouse_events)")
    assert steps.inhibition(run, fresh, DEST, NOW) is None       # the source is never its own target
    other_day = alert("anomaly", {}, subject="warehouse_events", day=D3)
    assert steps.inhibition(state(candidates=[fresh, other_day]), other_day, DEST, NOW) is None


def test_inhibition_rules_come_from_the_config():
    fresh = alert("freshness", {"table": "client_events"}, subject="client_events", table="client_events")
    count = alert("anomaly", {}, subject="warehouse_events", table="warehouse_events")
    same_table = [InhibitRuleSpec(source_match={"kind": "freshness"}, target_match={"kind": "anomaly"},
                                  equal=["partition", "table"])]
    assert steps.inhibition(state(candidates=[fresh, count], rules=same_table), count, DEST, NOW) is None
    assert steps.inhibition(state(candidates=[fresh, count], rules=()), count, DEST, NOW) is None
    assert steps.inhibition(state(candidates=[fresh, count]), count, DEST, NOW).outcome == Outcome.INHIBITED


# ---- hysteresis and flapping ---------------------------------------------------------------
def test_hysteresis_holds_an_alert_until_enough_breaches_in_a_row():
    a, three = alert(), Destination("default", ("partition",), None, "root", fire_after_runs=3)
    v = steps.hysteresis(state(decided={(a.fingerprint, "default"): {D1: "pending"}}), a, three, NOW)
    assert (v.outcome, v.reason) == (Outcome.PENDING, "breach 2 of 3 needed before firing")
    gap = {(a.fingerprint, "default"): {D0: "pending"}}           # not consecutive: counting starts again
    assert steps.hysteresis(state(decided=gap), a, three, NOW).reason == "breach 1 of 3 needed before firing"
    enough = {(a.fingerprint, "default"): {D0: "pending", D1: "pending"}}
    assert steps.hysteresis(state(decided=enough), a, three, NOW) is None
    assert steps.hysteresis(state(), a, DEST, NOW) is None        # fire_after_runs 1: fires at once


def test_a_fingerprint_with_many_recent_incidents_is_flapping():
    a = alert(day=D3)
    incidents = [incident(a, first=D0, last=D0, status="resolved", resolved=D1, id="x0"),
                 incident(a, first=D2, last=D2, status="resolved", resolved=D3, id="x2")]
    v = steps.flap(state(partition=D3, incidents=incidents, flap_max_incidents=2), a, DEST, NOW)
    assert (v.outcome, v.reason) == (Outcome.FLAPPING, "flapping: 2 incidents in the last 14 days")
    assert steps.flap(state(partition=D3, incidents=incidents, flap_max_incidents=3), a, DEST, NOW) is None


# ---- notify or join ------------------------------------------------------------------------
def test_a_new_incident_notifies_or_joins_the_thread_of_its_group_still_firing():
    a = alert()
    v = steps.notify(state(), a, DEST, NOW)
    assert (v.outcome, v.thread_key, v.first_partition) == (Outcome.NOTIFY, "default||2026-09-18", D2)
    other = incident(alert(labels={"country": "US"}), first=D1, last=D1)
    v = steps.notify(state(incidents=[other]), a, DEST, NOW)
    assert (v.outcome, v.thread_key) == (Outcome.JOIN, "default||2026-09-17")
    assert v.reason == "joins the incident thread started 2026-09-17 via route root"
    muted = incident(alert(labels={"country": "US"}), suppressed="silenced")   # never notified: no thread to join
    assert steps.notify(state(incidents=[muted]), a, DEST, NOW).outcome == Outcome.NOTIFY


def test_an_incident_begins_at_its_first_pending_breach():
    a, two = alert(), Destination("default", ("partition",), None, "root", fire_after_runs=2)
    run = state(decided={(a.fingerprint, "default"): {D1: "pending"}})
    assert steps.decide(run, a, two, NOW).first_partition == D1


# ---- resolution ----------------------------------------------------------------------------
def test_resolution_replies_once_per_thread_and_quietly_when_never_notified():
    us, br = alert(labels={"country": "US"}), alert(labels={"country": "BR"})
    inc_us, inc_br = incident(us, id="us"), incident(br, id="br")
    run = state(incidents=[inc_us, inc_br])
    assert steps.resolution(run, inc_us, DEST, NOW).outcome == Outcome.RESOLVED_IN_THREAD
    both = frozenset({"us", "br"})
    v = steps.resolution(run, inc_us, DEST, NOW, both)
    assert (v.outcome, v.reason, v.thread_key) == (Outcome.RESOLVE, "clean on 2026-09-18", "default||2026-09-17")
    quiet = Destination("default", ("partition",), None, "root", send_resolved=False)
    assert steps.resolution(run, inc_us, quiet, NOW, both).reason == \
        "clean on 2026-09-18; the route has send_resolved: false"
    muted = incident(us, suppressed="inhibited by freshness alert", thread=None)
    v = steps.resolution(state(incidents=[muted]), muted, DEST, NOW)
    assert (v.outcome, v.reason) == (Outcome.RESOLVED_QUIETLY, "clean on 2026-09-18; was never notified")


def test_resolution_waits_for_enough_clean_runs():
    a = alert()
    inc, two = incident(a), Destination("default", (), None, "resolve", resolve_after_runs=2)
    v = steps.resolve_hysteresis(state(), inc, two, NOW)
    assert (v.outcome, v.reason) == (Outcome.CLEAN, "clean run 1 of 2 needed to resolve")
    assert steps.resolve_hysteresis(state(decided={(a.fingerprint, "default"): {D1: "clean"}}), inc, two, NOW) is None


# ---- the decisions are a closed set ----------------------------------------------------------
def _scenario_outcomes() -> set[Outcome]:
    """Run `decide_run` (pure: in-memory state) over days that between them reach every decision."""
    tree = RouteSpec.model_validate(yaml.safe_load("""
        receiver: default
        routes:
          - {matchers: {metric: held}, fire_after_runs: 2, resolve_after_runs: 2}
          - {matchers: {metric: daily}, repeat_interval_days: 1}
          - {matchers: {metric: quiet}, send_resolved: false}
        """))
    silenced = _silence(matchers={"metric": "muted"})
    run = state(partition=D0, silences=[silenced], flap_max_incidents=2)
    seen: set[Outcome] = set()

    def day(partition, candidates, clean=()):
        run.partition, run.candidates = partition, list(candidates)
        decided = decide_run(run, list(candidates), {a.fingerprint for a in clean}, tree, NOW)
        seen.update(d.decision for d, _ in decided if d is not None)
        seen.update(Outcome(c.decision["decision"]) for _, c in decided if c is not None and c.decision)

    def on(subject, partition, **kw):
        return alert(subject=subject, day=partition, **kw)

    day(D0, [on("pair", D0), on("daily", D0), on("held", D0), on("quiet", D0), on("muted", D0)])  # silenced, pending
    day(D0, [on("pair", D0, observed=0.5)])                                 # restated: correct
    day(D0, [on("pair", D0, observed=0.5)])                                 # re-run: duplicate
    day(D1, [on("daily", D1), on("held", D1), on("pair", D1, labels={"country": "US"})],
        [on("pair", D1), on("quiet", D1)])        # repeat, notify; pair resolved in thread, quiet quietly
    day(D2, [on("held", D2)], [on("daily", D2), on("pair", D2, labels={"country": "US"})])   # continuing, resolve
    fresh = alert("freshness", {"table": "t"}, subject="t", day=D3, table="t")
    day(D3, [fresh, alert("anomaly", {}, subject="t", day=D3)], [on("held", D3)])   # inhibited; clean, 1 of 2
    day(D0, [], [on("muted", D0)])                                          # a muted day restated clean
    for d in range(4, 12, 2):                                               # fire, clean, fire ...: flapping
        day(D0 + dt.timedelta(days=d), [on("flappy", D0 + dt.timedelta(days=d))])
        day(D0 + dt.timedelta(days=d + 1), [], [on("flappy", D0 + dt.timedelta(days=d + 1))])
    return seen


def test_every_decision_the_lifecycle_makes_is_a_member_of_the_closed_set_and_all_are_reachable():
    assert _scenario_outcomes() == set(Outcome)
    with pytest.raises(ValueError, match="Decision.decision must be one of .*'resolved_quietly'.*got 'ignored'"):
        Decision("fp", D1, "ignored", "a decision outside the set")


def test_readme_documents_every_decision():
    section = README.read_text().split("### Alert decisions", 1)[1].split("\n#", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))
    assert documented == {o.value for o in Outcome}


def test_an_incident_keeps_the_latest_since_onset_impact_while_its_daily_impacts_add_up():
    from alerting.lifecycle import combine_impacts

    day1 = {"events": -100.0, "lower": -120.0, "upper": -80.0, "share_of_total": -0.01, "side": "client",
            "incident_days": 1, "incident_since": "2026-03-01", "incident_events": -100.0,
            "incident_lower": -120.0, "incident_upper": -80.0}
    day2 = {"events": -150.0, "lower": -170.0, "upper": -130.0, "share_of_total": -0.015, "side": "client",
            "incident_days": 2, "incident_since": "2026-03-01", "incident_events": -250.0,
            "incident_lower": -280.0, "incident_upper": -225.0}
    both = combine_impacts(day1, day2)
    assert both["events"] == -250.0 and both["partitions"] == 2 and both["side"] == "client"
    # the since-onset statement is the later day's, not a sum of the two statements
    assert (both["incident_days"], both["incident_events"], both["incident_lower"]) == (2, -250.0, -280.0)
    # a day without a since-onset statement leaves the earlier one in place
    assert combine_impacts(day2, {k: v for k, v in day1.items() if not k.startswith("incident_")}
                           )["incident_events"] == -250.0


def test_an_incident_takes_the_side_judged_on_its_days_pooled_not_mixed_with_a_first_day_left_open():
    """On its first day alone a small slice's loss can be undetermined (client and warehouse each about
    two errors out); judged on two days pooled it is the client's. The incident is the client's."""
    from alerting.lifecycle import combine_impacts

    day1 = {"events": -100.0, "lower": -180.0, "upper": -20.0, "share_of_total": -0.01, "side": "undetermined"}
    day2 = {"events": -150.0, "lower": -200.0, "upper": -100.0, "share_of_total": -0.015, "side": "client",
            "incident_days": 2, "incident_since": "2026-03-01", "incident_events": -250.0,
            "incident_lower": -310.0, "incident_upper": -190.0, "incident_side": "client"}
    assert combine_impacts(day1, day2)["side"] == "client"
    # days judged one by one that disagree stay "mixed"
    assert combine_impacts(day1, {**day1, "side": "client"})["side"] == "mixed"
