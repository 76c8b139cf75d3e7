"""The lifecycle's steps: each a pure function of the run's state, the alert (as routed to one
receiver) and the time, returning a `Verdict` (decision and reason) or None to pass the alert on.

A breaching alert goes through `ALERT_STEPS` in order, and the first verdict is its decision:
dedup -> continuing incident -> silence -> inhibition -> hysteresis -> flap -> notify (or join).
A firing incident whose fingerprint is evaluated clean goes through `resolve_hysteresis`, then
`resolution`. Nothing here reads or writes a database.
"""
from __future__ import annotations

import datetime as dt
import math

from alerting.alert import Alert
from alerting.decision import Outcome, Verdict
from alerting.inhibit import inhibitor
from alerting.route import Destination, matches
from alerting.state import RunState

NUMBERS = ("observed", "expected", "lower", "upper")


# ---- a breaching alert ------------------------------------------------------------------
def dedup(state: RunState, alert: Alert, dest: Destination, now: dt.datetime) -> Verdict | None:
    """One decision per fingerprint, partition and receiver: a partition decided before is a
    duplicate, unless late data changed what it says (a correction)."""
    if state.decision_on(alert.fingerprint, alert.partition, dest.receiver) is None:
        return None
    return restatement(state, alert.fingerprint, alert.partition, dest.receiver, alert) or Verdict(
        Outcome.DUPLICATE, "already decided for this partition (re-run or backfill)")


def continuing(state: RunState, alert: Alert, dest: Destination, now: dt.datetime) -> Verdict | None:
    """A partition overlapping or adjacent to the receiver's firing incident is part of it; after
    `repeat_interval_days` it is said again in the incident's thread (a muted incident has none)."""
    inc = state.incident_covering(alert.fingerprint, alert.partition, dest.receiver)
    if inc is None:
        return None
    day, repeat = alert.partition, dest.repeat_interval_days
    if inc["status"] == "firing" and inc["thread_key"] is not None and repeat \
            and day >= inc["last_partition"] + dt.timedelta(days=repeat) and day > inc["last_partition"]:
        return Verdict(Outcome.REPEAT, f"still firing after {repeat} day(s)", inc, inc["thread_key"])
    return Verdict(Outcome.CONTINUING, f"part of incident {inc['id']} (first partition {inc['first_partition']})",
                   inc, inc["thread_key"])


def silence(state: RunState, alert: Alert, dest: Destination, now: dt.datetime) -> Verdict | None:
    """A person muted alerts with these labels, with a reason and an expiry."""
    labels = alert.match_labels
    found = next((s for s in state.silences if s.active(now) and matches(s.matchers, labels)), None)
    if found is None:
        return None
    return Verdict(Outcome.SILENCED, f"silence #{found.id} by {found.author}: {found.reason}")


def inhibition(state: RunState, alert: Alert, dest: Destination, now: dt.datetime) -> Verdict | None:
    """Another alert of the run matching an inhibition rule's source mutes this one (by default a
    missing partition mutes the anomaly and discrepancy alerts it causes)."""
    source = inhibitor(alert, state.candidates, state.inhibit_rules)
    if source is None:
        return None
    return Verdict(Outcome.INHIBITED, f"inhibited by {source.kind} alert on {source.subject} ({source.slice_label})")


def hysteresis(state: RunState, alert: Alert, dest: Destination, now: dt.datetime) -> Verdict | None:
    """Fire only after the route's `fire_after_runs` breaching runs in a row."""
    streak = state.streak(alert.fingerprint, alert.partition, Outcome.PENDING, dest.receiver)
    if streak + 1 >= dest.fire_after_runs:
        return None
    return Verdict(Outcome.PENDING, f"breach {streak + 1} of {dest.fire_after_runs} needed before firing")


def flap(state: RunState, alert: Alert, dest: Destination, now: dt.datetime) -> Verdict | None:
    """A fingerprint that keeps firing and resolving is muted as flapping."""
    flaps = state.recent_incidents(alert.fingerprint, alert.partition, dest.receiver)
    if flaps < state.flap_max_incidents:
        return None
    return Verdict(Outcome.FLAPPING, f"flapping: {flaps} incidents in the last {state.flap_window_days} days")


def notify(state: RunState, alert: Alert, dest: Destination, now: dt.datetime) -> Verdict:
    """A new incident: a firing message, or a reply when another alert of its group still fires from
    an earlier partition (the same incident spreading joins that thread). It begins at its first
    breach (hysteresis' pending runs count back), or where the finding says its change began (a drift's
    estimated onset) when that is earlier."""
    day = alert.partition
    first = day - dt.timedelta(days=state.streak(alert.fingerprint, day, Outcome.PENDING, dest.receiver))
    if alert.began is not None:
        first = min(first, alert.began)
    thread = state.open_thread(dest, alert.match_labels, day)
    if thread is not None and not thread.endswith(f"|{day.isoformat()}"):
        return Verdict(Outcome.JOIN, f"joins the incident thread started {thread.rsplit('|', 1)[1]} via route "
                                     f"{dest.path}", thread_key=thread, first_partition=first)
    thread = thread or f"{dest.thread_group(alert.match_labels)}|{day.isoformat()}"
    return Verdict(Outcome.NOTIFY, f"new incident via route {dest.path}", thread_key=thread, first_partition=first)


ALERT_STEPS = (dedup, continuing, silence, inhibition, hysteresis, flap, notify)


def decide(state: RunState, alert: Alert, dest: Destination, now: dt.datetime) -> Verdict:
    """The first verdict of the chain; the last step, `notify`, always gives one."""
    *suppressing, last = ALERT_STEPS
    for step in suppressing:
        verdict = step(state, alert, dest, now)
        if verdict is not None:
            return verdict
    return last(state, alert, dest, now)


# ---- a firing incident evaluated clean ---------------------------------------------------
def resolve_hysteresis(state: RunState, incident: dict, dest: Destination, now: dt.datetime) -> Verdict | None:
    """Resolve only after the route's `resolve_after_runs` clean runs in a row."""
    needed = dest.resolve_after_runs
    streak = state.streak(incident["fingerprint"], state.partition, Outcome.CLEAN, dest.receiver)
    if streak + 1 >= needed:
        return None
    return Verdict(Outcome.CLEAN, f"clean run {streak + 1} of {needed} needed to resolve", incident)


def resolution(state: RunState, incident: dict, dest: Destination, now: dt.datetime,
               resolving: frozenset[str] = frozenset()) -> Verdict:
    """How a due incident resolves: a "resolved" reply once per thread, when its last firing alert
    (other than those in `resolving`, resolved in the same run) is clean; quietly if it was never
    notified or the route sets `send_resolved: false`."""
    clean_on = f"clean on {state.partition}"
    if incident["suppressed"]:
        return Verdict(Outcome.RESOLVED_QUIETLY, f"{clean_on}; was never notified", incident)
    if not dest.send_resolved:
        return Verdict(Outcome.RESOLVED_QUIETLY, f"{clean_on}; the route has send_resolved: false", incident)
    if state.thread_firing(incident["thread_key"], set(resolving)):
        return Verdict(Outcome.RESOLVED_IN_THREAD, f"{clean_on}; other alerts of its incident still fire in the "
                                                   "same thread", incident)
    return Verdict(Outcome.RESOLVE, clean_on, incident, incident["thread_key"])


# ---- a decided partition restated by late data --------------------------------------------
def restatement(state: RunState, fp: str, day: dt.date, receiver: str, alert: Alert | None) -> Verdict | None:
    """The correction of a partition decided before, when what it says now (`alert`, or clean when
    None) differs from what was recorded; None when nothing changed."""
    said = state.values.get((fp, day, receiver))
    if said is None or not changed(said, alert):
        return None
    inc = state.incidents[said["alert_id"]]
    revision = said["revision"] + 1
    now_says = (f"observed {_num(alert.observed)} vs expected {_num(alert.expected)}" if alert is not None
                else "within its expected range now")
    text = f"late data restated {day}: was observed {_num(said['observed'])}; {now_says}"
    extra = {"incident": inc, "revision": revision, "correction": text}
    if inc["suppressed"] or not inc["thread_key"]:
        return Verdict(Outcome.CORRECTED_QUIETLY, f"{text}; was never notified", inc, extra=extra)
    return Verdict(Outcome.CORRECT, text, inc, inc["thread_key"], extra=extra)


def said(alert: Alert | None) -> dict:
    """The recorded values of a partition: the alert's, or clean (no values) when None."""
    if alert is None:
        return {"breaching": False, "message": None, **dict.fromkeys(NUMBERS)}
    return {"breaching": True, "message": alert.message, **{k: getattr(alert, k) for k in NUMBERS}}


def changed(recorded: dict, alert: Alert | None) -> bool:
    """Whether a partition says something else now: breaching or clean, or other numbers (to float
    noise), or for an alert without numbers another message."""
    if alert is None or not recorded["breaching"]:
        return recorded["breaching"] != (alert is not None)
    now = said(alert)
    numbers = [(recorded[k], now[k]) for k in NUMBERS if recorded[k] is not None or now[k] is not None]
    if not numbers:
        return recorded["message"] != now["message"]
    return any(x is None or y is None or not math.isclose(x, y, rel_tol=1e-9) for x, y in numbers)


def _num(value: float | None) -> str:
    return "n/a" if value is None else (f"{value:,.4g}" if abs(value) < 10 else f"{value:,.0f}")
