"""Alert lifecycle: each candidate goes through a chain of small pure steps (`alerting.steps`), each
returning a decision from a closed set (`alerting.decision.Outcome`) with its reason.

dedup (one decision per fingerprint, partition and receiver: re-runs and backfills never re-send, and
   every receiver of a `continue: true` route is notified once)
-> continuing incident (consecutive breaching partitions are one incident, one thread; a new slice of
   the same group while the incident fires joins its thread as a reply)
-> silence (a person muted it, with reason and expiry)
-> inhibition (`alerting.inhibit_rules`; by default a missing partition mutes the count alerts it causes)
-> hysteresis (fire only after `fire_after_runs` breaching runs in a row)
-> flap detection (a fingerprint that keeps firing and resolving is muted as flapping)
-> notify.
A partition decided before whose values changed since (late data restated it) is a correction: the
alert takes the new values and its thread gets one "correction" reply; if the restated partition is
clean now, the reply says so. An unchanged re-run changes nothing.
A fingerprint evaluated clean after firing resolves after `resolve_after_runs` clean runs in a row;
the thread gets one "resolved" reply when its last firing alert resolves (unless the route sets
`send_resolved: false`).
The run's state is read in bulk first (`alerting.storage.load_state`), each decision's changes are
applied to it in memory as the run goes, and the storage layer writes them after deciding. Every
decision, suppressions included, is stored in `mq_alert_decisions` with its reason.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Sequence

import sqlalchemy as sa

from alerting import schema, steps, storage
from alerting.alert import Alert
from alerting.decision import Decision, Outcome, Verdict, notification_key
from alerting.inhibit import DEFAULT_INHIBIT
from alerting.route import Destination, route
from alerting.silences import Silences
from alerting.state import Change, RunState
from core.config import InhibitRuleSpec, RouteSpec
from core.faults import crash_point
from core.tables import require_tables

__all__ = ["AlertBook", "Decision", "Outcome", "combine_impacts", "incident_id", "notification_key"]

# Besides its decision row, a decision extends the incident it is part of, resolves one, corrects a
# partition decided before, or (notify, join, silenced, inhibited, flapping) opens a new incident.
_EXTENDS = {Outcome.CONTINUING, Outcome.REPEAT}
_RESOLVES = {Outcome.RESOLVE, Outcome.RESOLVED_QUIETLY, Outcome.RESOLVED_IN_THREAD}
_CORRECTS = {Outcome.CORRECT, Outcome.CORRECTED_QUIETLY}


class AlertBook:
    def __init__(self, engine: sa.Engine, *, flap_max_incidents: int = 3, flap_window_days: int = 14) -> None:
        self.engine = engine
        self.silences = Silences(engine)
        self.flap_max_incidents, self.flap_window_days = flap_max_incidents, flap_window_days

    def install(self) -> None:
        require_tables(self.engine, schema.metadata.tables, "alert book")   # created by the migrations

    def bound(self, conn: sa.Connection) -> "AlertBook":
        """This book working inside the caller's transaction `conn`: every decision and incident it
        writes commits or vanishes with whatever else the caller writes there (the outbox rows)."""
        return AlertBook(_OneConnection(conn), flap_max_incidents=self.flap_max_incidents,
                         flap_window_days=self.flap_window_days)

    def process(self, partition: dt.date, candidates: list[Alert], clean: set[str], tree: RouteSpec,
                now: dt.datetime, inhibit_rules: Sequence[InhibitRuleSpec] = DEFAULT_INHIBIT) -> list[Decision]:
        """Decide every candidate for each of its receivers, resolve what is clean, correct what late
        data restated; write it all; return the decisions (those of clean runs short of resolving are
        stored, not returned)."""
        state = storage.load_state(self.engine, partition, candidates, clean, inhibit_rules=inhibit_rules,
                                   flap_max_incidents=self.flap_max_incidents,
                                   flap_window_days=self.flap_window_days)
        decided = decide_run(state, candidates, clean, tree, now)
        written = storage.write(self.engine, [change for _, change in decided if change is not None])
        out, claimed = [], iter(written)
        for decision, change in decided:
            ok = True if change is None else next(claimed)
            if ok and decision is not None:
                out.append(decision)
            elif not ok and decision is not None and decision.decision not in _RESOLVES:
                out.append(Decision(decision.fingerprint, decision.partition, Outcome.DUPLICATE,
                                    "decided by a concurrent run", decision.alert))
        return out

    def alerts(self) -> list[dict]:
        a = schema.alerts
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(a).order_by(a.c.first_partition, a.c.id)).mappings()]

    def decisions(self, start: dt.date | None = None, end: dt.date | None = None) -> list[dict]:
        d = schema.decisions
        q = sa.select(d)
        if start:
            q = q.where(d.c.partition >= start)
        if end:
            q = q.where(d.c.partition <= end)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q.order_by(d.c.partition, d.c.fingerprint)).mappings()]


def decide_run(state: RunState, candidates: list[Alert], clean: set[str], tree: RouteSpec,
               now: dt.datetime) -> list[tuple[Decision | None, Change | None]]:
    """Every decision of the run with the change it implies, applied to `state` as it goes (so each
    alert sees those decided before it). A decision of None is a stored clean run short of resolving;
    a change of None writes nothing (a duplicate)."""
    out: list[tuple[Decision | None, Change | None]] = []

    def take(decision: Decision | None, change: Change | None) -> None:
        if change is not None:
            state.apply(change)
        out.append((decision, change))

    for alert in candidates:
        for n, dest in enumerate(route(tree, alert.match_labels)):
            # Each receiver keeps its own incident and thread; the first route's incident keeps the
            # plain `<fingerprint>-<partition>` id.
            verdict = steps.decide(state, alert, dest, now)
            take(*_alert_decision(verdict, alert, dest, incident_id(
                alert.fingerprint, alert.partition, None if n == 0 else dest.receiver), now))
    due = []
    for inc in state.firing_before(state.partition, clean):
        receiver = inc["receiver"] or "local"
        if state.decision_on(inc["fingerprint"], state.partition, receiver) is not None:
            continue
        destinations = route(tree, _incident_labels(inc, state.partition))
        routed = next((d for d in destinations if d.receiver == receiver), destinations[0])
        routed = Destination(receiver, (), None, "resolve", routed.fire_after_runs, routed.resolve_after_runs,
                             routed.send_resolved)
        pending = steps.resolve_hysteresis(state, inc, routed, now)
        if pending is not None:
            take(None, _record_only(inc["fingerprint"], state.partition, pending, routed, inc["id"], now))
            continue
        due.append((inc, routed))
    resolving = frozenset(inc["id"] for inc, _ in due)
    for inc, routed in due:
        take(*_resolution(steps.resolution(state, inc, routed, now, resolving), state.partition, routed, now))
    for fp, receiver in state.breaching_on(state.partition, clean):
        verdict = steps.restatement(state, fp, state.partition, receiver, None)
        if verdict is not None:
            take(*_correction(verdict, fp, state.partition, receiver, None))
    return out


# ---- what each decision writes --------------------------------------------------------------
def _alert_decision(v: Verdict, alert: Alert, dest: Destination, new_id: str,
                    now: dt.datetime) -> tuple[Decision, Change | None]:
    fp, day = alert.fingerprint, alert.partition
    if v.outcome == Outcome.DUPLICATE:
        return Decision(fp, day, v.outcome, v.reason, alert), None
    if v.outcome in _CORRECTS:
        return _correction(v, fp, day, dest.receiver, alert)
    if v.outcome == Outcome.PENDING:
        return _decided(Decision(fp, day, v.outcome, v.reason, alert, None, dest), now)
    alert_id = v.incident["id"] if v.outcome in _EXTENDS else new_id
    d = Decision(fp, day, v.outcome, v.reason, alert, alert_id, dest, v.thread_key)
    (d, change) = _decided(d, now)
    values = {"fingerprint": fp, "partition": day, "receiver": dest.receiver, "alert_id": alert_id,
              "revision": 0, **steps.said(alert)}
    if v.outcome in _EXTENDS:
        return d, Change(change.decision, values_insert=values,
                         incident_update=(v.incident["id"], _extended(v.incident, alert, now)))
    return d, Change(change.decision, values_insert=values, incident_insert={
        "id": alert_id, "fingerprint": fp, "kind": alert.kind, "subject": alert.subject, "labels": alert.labels,
        "severity": alert.severity, "status": "firing", "first_partition": v.first_partition or day,
        "last_partition": day, "resolved_partition": None, "first_fired_at": now, "last_fired_at": now,
        "resolved_at": None, "message": alert.message, "observed": alert.observed, "expected": alert.expected,
        "lower": alert.lower, "upper": alert.upper, "impact": alert.impact,
        "root_causes": list(alert.root_causes) or None, "team": alert.team, "table_name": alert.table,
        "receiver": dest.receiver, "thread_key": v.thread_key,
        "suppressed": None if v.outcome == Outcome.NOTIFY else v.reason})


def _extended(inc: dict, alert: Alert, now: dt.datetime) -> dict:
    values = {"first_partition": min(inc["first_partition"], alert.partition),
              "last_partition": max(inc["last_partition"], alert.partition),
              # Each partition is decided once, so adding its impact never double-counts.
              "impact": combine_impacts(inc["impact"], alert.impact)}
    if alert.partition > inc["last_partition"]:
        values.update(last_fired_at=now, message=alert.message, observed=alert.observed, expected=alert.expected,
                      lower=alert.lower, upper=alert.upper, root_causes=list(alert.root_causes) or inc["root_causes"])
    return values


def _resolution(v: Verdict, partition: dt.date, dest: Destination, now: dt.datetime) -> tuple[Decision, Change]:
    inc = v.incident
    d = Decision(inc["fingerprint"], partition, v.outcome, v.reason, None, inc["id"],
                 Destination(dest.receiver, (), None, "resolve"), inc["thread_key"], extra={"incident": dict(inc)})
    d, change = _decided(d, now)
    return d, Change(change.decision, incident_update=(inc["id"], {
        "status": "resolved", "resolved_partition": partition, "resolved_at": now}))


def _correction(v: Verdict, fp: str, day: dt.date, receiver: str, alert: Alert | None) -> tuple[Decision, Change]:
    """The recorded values and, when the partition is the incident's latest, the incident's alert
    take the new values; nothing is claimed (the partition was decided before)."""
    inc = v.incident
    dest = Destination(inc["receiver"], (), None, "correct") if v.outcome == Outcome.CORRECT else None
    d = Decision(fp, day, v.outcome, v.reason, alert, inc["id"], dest, v.thread_key, extra=v.extra)
    update = None
    if alert is not None and inc["last_partition"] == day:
        update = (inc["id"], {"message": alert.message, "observed": alert.observed, "expected": alert.expected,
                              "lower": alert.lower, "upper": alert.upper, "impact": alert.impact,
                              "root_causes": list(alert.root_causes) or inc["root_causes"]})
    return d, Change(values_update=((fp, day, receiver), {"revision": v.extra["revision"], **steps.said(alert)}),
                     incident_update=update)


def _record_only(fp: str, day: dt.date, v: Verdict, dest: Destination, alert_id: str | None,
                 now: dt.datetime) -> Change:
    return _decided(Decision(fp, day, v.outcome, v.reason, None, alert_id, dest), now)[1]


def _decided(d: Decision, now: dt.datetime) -> tuple[Decision, Change]:
    """The decision with its `mq_alert_decisions` row."""
    return d, Change({"fingerprint": d.fingerprint, "partition": d.partition, "alert_id": d.alert_id,
                      "decision": d.decision.value, "reason": d.reason, "receiver": d.destination.receiver,
                      "notification_key": notification_key(d) if d.sends else None, "decided_at": now})


def _incident_labels(inc: dict, partition: dt.date) -> dict[str, str]:
    """The labels an incident's alert routed by, on `partition`."""
    return {**{k: str(v) for k, v in inc["labels"].items()}, "kind": inc["kind"], "metric": inc["subject"],
            "severity": inc["severity"], "partition": partition.isoformat(),
            **({"team": inc["team"]} if inc["team"] else {}),
            **({"table": inc["table_name"]} if inc["table_name"] else {})}


class _OneConnection:
    """Stands in for the engine so the stages run unchanged on one open transaction: `connect()` is
    that connection, `begin()` a savepoint in it (a refused duplicate decision rolls back alone, not
    the whole run's transaction, which PostgreSQL would otherwise abort)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn, self.dialect = conn, conn.dialect

    @contextlib.contextmanager
    def connect(self):
        yield self.conn

    @contextlib.contextmanager
    def begin(self):
        crash_point("alert.write")
        with self.conn.begin_nested():
            yield self.conn


def combine_impacts(a: dict | None, b: dict | None) -> dict | None:
    """The impact of an incident over all its partitions: events and interval ends add up; the share
    is of the summed reported totals (each day's total is events / share).

    The `incident_*` fields are already a statement over the whole incident since its onset (made by the
    root-cause stage on the later day's data), so the later one is kept as it is, not added up; so is
    its side (`incident_side`): the side judged on the days pooled is the incident's, where a first day
    alone may have left it undetermined. Without one, days that disagree make the side "mixed"."""
    if not a or not b:
        return a or b
    events = a["events"] + b["events"]
    totals = sum(x["events"] / x["share_of_total"] for x in (a, b) if x.get("share_of_total"))
    since_onset = {k: v for k, v in (b if "incident_events" in b else a).items() if k.startswith("incident_")}
    return {"events": round(events, 1), "lower": round(a["lower"] + b["lower"], 1),
            "upper": round(a["upper"] + b["upper"], 1),
            "share_of_total": round(events / totals, 6) if totals else 0.0,
            "direction": "under" if events < 0 else "over", "partitions": a.get("partitions", 1) + 1,
            "side": since_onset.get("incident_side") or (a.get("side") if a.get("side") == b.get("side") else "mixed"),
            **since_onset}


def incident_id(fp: str, first_partition: dt.date, extra_receiver: str | None = None) -> str:
    """`<fingerprint>-<first partition>`; a further receiver of a `continue: true` route keeps its own
    incident, told apart by a short hash of its name (the id stays within 64 characters)."""
    base = f"{fp}-{first_partition.isoformat()}"
    if extra_receiver is None:
        return base
    return f"{base}-{hashlib.sha256(extra_receiver.encode()).hexdigest()[:8]}"
