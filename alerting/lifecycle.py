"""Alert lifecycle: each candidate goes through a chain of small stages, each returning a reason.

dedup (one decision per fingerprint, partition and receiver: re-runs and backfills never re-send, and
   every receiver of a `continue: true` route is notified once)
-> continuing incident (consecutive breaching partitions are one incident, one thread; a new slice of
   the same group while the incident fires joins its thread as a reply)
-> silence (a person muted it, with reason and expiry)
-> inhibition (a missing partition mutes the count alerts it causes)
-> hysteresis (fire only after `fire_after_runs` breaching runs in a row)
-> flap detection (a fingerprint that keeps firing and resolving is muted as flapping)
-> notify.
A partition decided before whose values changed since (late data restated it) is a correction: the
alert takes the new values and its thread gets one "correction" reply; if the restated partition is
clean now, the reply says so. An unchanged re-run changes nothing.
A fingerprint evaluated clean after firing resolves after `resolve_after_runs` clean runs in a row;
the thread gets one "resolved" reply when its last firing alert resolves (unless the route sets
`send_resolved: false`).
Every decision, suppressions included, is stored in `mq_alert_decisions` with its reason.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import math
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from alerting import schema
from alerting.alert import Alert
from alerting.route import Destination, matches, route
from alerting.silences import Silences
from core.config import RouteSpec
from core.faults import crash_point
from core.tables import require_tables

ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class InhibitRule:
    """Alerts matching `target` are muted while an alert matching `source` fires with equal `equal` labels."""
    source: dict[str, str]
    target: dict[str, str]
    equal: tuple[str, ...] = ("partition",)


DEFAULT_INHIBIT = (InhibitRule({"kind": "freshness"}, {"kind": "~anomaly|discrepancy"}, ("partition",)),)


@dataclass
class Decision:
    fingerprint: str
    partition: dt.date
    # notify|join|repeat|resolve|correct|duplicate|continuing|silenced|inhibited|pending|flapping|clean|
    # resolved_quietly|resolved_in_thread|corrected_quietly
    decision: str
    reason: str
    alert: Alert | None = None
    alert_id: str | None = None
    destination: Destination | None = None
    thread_key: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def sends(self) -> bool:
        return self.decision in ("notify", "join", "repeat", "resolve", "correct")


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

    # ---- the stages -----------------------------------------------------------------
    def process(self, partition: dt.date, candidates: list[Alert], clean: set[str], tree: RouteSpec,
                now: dt.datetime, inhibit_rules=DEFAULT_INHIBIT) -> list[Decision]:
        decisions = []
        for alert in candidates:
            for n, dest in enumerate(route(tree, alert.match_labels)):
                decisions.append(self._decide(alert, dest, n == 0, candidates, now, inhibit_rules))
        decisions += self._resolutions(partition, clean, tree, now)
        decisions += [d for d in (self._restated(fp, partition, receiver, None, now)
                                  for fp, receiver in self._breaching_before(partition, clean)) if d]
        return decisions

    def _breaching_before(self, partition: dt.date, clean: set[str]) -> list[tuple[str, str]]:
        """(fingerprint, receiver) evaluated clean now that were recorded breaching on this very partition."""
        v = schema.alert_values
        with self.engine.connect() as conn:
            return sorted(conn.execute(sa.select(v.c.fingerprint, v.c.receiver).where(
                v.c.partition == partition, v.c.breaching.is_(True), v.c.fingerprint.in_(list(clean)))).tuples())

    def _decide(self, alert: Alert, dest: Destination, first_route: bool, candidates, now,
                inhibit_rules) -> Decision:
        """The decision for one receiver of the alert; each receiver keeps its own incident and thread
        (the first route's incident keeps the plain `<fingerprint>-<partition>` id)."""
        fp, day, receiver = alert.fingerprint, alert.partition, dest.receiver
        if self._decided(fp, day, receiver):
            return self._restated(fp, day, receiver, alert, now) or Decision(
                fp, day, "duplicate", "already decided for this partition (re-run or backfill)", alert)
        open_incident = self._incident_covering(fp, day, receiver)
        if open_incident is not None:
            inc = open_incident
            repeat = dest.repeat_interval_days
            if inc["status"] == "firing" and repeat and day >= inc["last_partition"] + dt.timedelta(days=repeat) \
                    and day > inc["last_partition"]:
                return self._claim(Decision(fp, day, "repeat", f"still firing after {repeat} day(s)", alert,
                                            inc["id"], dest, inc["thread_key"]), now, extend=inc)
            return self._claim(Decision(fp, day, "continuing",
                                        f"part of incident {inc['id']} (first partition {inc['first_partition']})",
                                        alert, inc["id"], dest, inc["thread_key"]), now, extend=inc)
        alert_id = incident_id(fp, day, None if first_route else receiver)
        silence = self.silences.matching(alert.match_labels, now)
        if silence is not None:
            return self._claim(Decision(fp, day, "silenced", f"silence #{silence.id} by {silence.author}: "
                                        f"{silence.reason}", alert, alert_id, dest), now, new=True)
        source = _inhibitor(alert, candidates, inhibit_rules)
        if source is not None:
            return self._claim(Decision(fp, day, "inhibited", f"inhibited by {source.kind} alert on "
                                        f"{source.subject} ({source.slice_label})", alert, alert_id, dest),
                               now, new=True)
        streak = self._streak(fp, day, "pending", receiver)
        if streak + 1 < dest.fire_after_runs:
            return self._claim(Decision(fp, day, "pending", f"breach {streak + 1} of {dest.fire_after_runs} "
                                        "needed before firing", alert, None, dest), now)
        flaps = self._recent_incidents(fp, day, receiver)
        if flaps >= self.flap_max_incidents:
            return self._claim(Decision(fp, day, "flapping", f"flapping: {flaps} incidents in the last "
                                        f"{self.flap_window_days} days", alert, alert_id, dest), now, new=True)
        thread = self._open_thread(dest, alert.match_labels, day)
        if thread is not None and not thread.endswith(f"|{day.isoformat()}"):
            # Another alert of the group is still firing from an earlier partition: this is the same
            # incident spreading, so it is a reply in that thread, not a new firing message.
            return self._claim(Decision(fp, day, "join", f"joins the incident thread started "
                                        f"{thread.rsplit('|', 1)[1]} via route {dest.path}", alert,
                                        alert_id, dest, thread), now, new=True,
                               first=day - dt.timedelta(days=streak))
        thread = thread or f"{dest.thread_group(alert.match_labels)}|{day.isoformat()}"
        return self._claim(Decision(fp, day, "notify", f"new incident via route {dest.path}", alert,
                                    alert_id, dest, thread), now, new=True,
                           first=day - dt.timedelta(days=streak))

    def _resolutions(self, partition: dt.date, clean: set[str], tree: RouteSpec,
                     now: dt.datetime) -> list[Decision]:
        a = schema.alerts
        with self.engine.connect() as conn:
            firing = conn.execute(sa.select(a).where(a.c.status == "firing", a.c.last_partition < partition,
                                                     a.c.fingerprint.in_(list(clean)))).mappings().all()
        due = []
        for inc in firing:
            fp, receiver = inc["fingerprint"], inc["receiver"] or "local"
            if self._decided(fp, partition, receiver):
                continue
            labels = {**{k: str(v) for k, v in inc["labels"].items()}, "kind": inc["kind"],
                      "metric": inc["subject"], "severity": inc["severity"], "partition": partition.isoformat(),
                      **({"team": inc["team"]} if inc["team"] else {}),
                      **({"table": inc["table_name"]} if inc["table_name"] else {})}
            destinations = route(tree, labels)
            routed = next((d for d in destinations if d.receiver == receiver), destinations[0])
            needed = routed.resolve_after_runs
            streak = self._streak(fp, partition, "clean", receiver)
            dest = Destination(receiver, (), None, "resolve")
            if streak + 1 < needed:
                self._record(Decision(fp, partition, "clean", f"clean run {streak + 1} of {needed} needed to "
                                      "resolve", None, inc["id"], dest), now)
                continue
            due.append((inc, dest, routed.send_resolved))
        resolving = {inc["id"] for inc, _, _ in due}
        out = []
        for inc, dest, send_resolved in due:
            fp = inc["fingerprint"]
            d = Decision(fp, partition, "resolve", f"clean on {partition}", None, inc["id"], dest,
                         inc["thread_key"], extra={"incident": dict(inc)})
            if inc["suppressed"]:
                d.decision, d.reason = "resolved_quietly", f"clean on {partition}; was never notified"
            elif not send_resolved:
                d.decision, d.reason = "resolved_quietly", f"clean on {partition}; the route has send_resolved: false"
            elif self._thread_firing(inc["thread_key"], resolving):
                # The thread ends once, when its incident does: one "resolved" reply, not one per slice.
                d.decision, d.reason = "resolved_in_thread", (f"clean on {partition}; other alerts of its "
                                                              "incident still fire in the same thread")
            if self._record(d, now):
                with self.engine.begin() as conn:
                    conn.execute(a.update().where(a.c.id == inc["id"]).values(
                        status="resolved", resolved_partition=partition, resolved_at=now))
                out.append(d)
        return out

    def _restated(self, fp: str, day: dt.date, receiver: str, alert: Alert | None,
                  now: dt.datetime) -> Decision | None:
        """The correction of a partition decided before, when what it says now (`alert`, or clean when
        None) differs from what was recorded; None when nothing changed. The recorded values and, when
        the partition is the incident's latest, the incident's alert take the new values."""
        v, a = schema.alert_values, schema.alerts
        with self.engine.connect() as conn:
            said = conn.execute(sa.select(v).where(v.c.fingerprint == fp, v.c.partition == day,
                                                   v.c.receiver == receiver)).mappings().first()
            if said is None or not _changed(said, alert):
                return None
            inc = dict(conn.execute(sa.select(a).where(a.c.id == said["alert_id"])).mappings().one())
        revision = said["revision"] + 1
        with self.engine.begin() as conn:
            conn.execute(v.update().where(v.c.fingerprint == fp, v.c.partition == day, v.c.receiver == receiver).values(
                revision=revision, **_said(alert)))
            if alert is not None and inc["last_partition"] == day:
                conn.execute(a.update().where(a.c.id == inc["id"]).values(
                    message=alert.message, observed=alert.observed, expected=alert.expected,
                    lower=alert.lower, upper=alert.upper, impact=alert.impact,
                    root_causes=list(alert.root_causes) or inc["root_causes"]))
        now_says = (f"observed {_num(alert.observed)} vs expected {_num(alert.expected)}" if alert is not None
                    else "within its expected range now")
        text = f"late data restated {day}: was observed {_num(said['observed'])}; {now_says}"
        extra = {"incident": inc, "revision": revision, "correction": text}
        if inc["suppressed"] or not inc["thread_key"]:
            return Decision(fp, day, "corrected_quietly", f"{text}; was never notified", alert, inc["id"],
                            extra=extra)
        dest = Destination(inc["receiver"], (), None, "correct")
        return Decision(fp, day, "correct", text, alert, inc["id"], dest, inc["thread_key"], extra=extra)

    def _open_thread(self, dest: Destination, labels: dict[str, str], day: dt.date) -> str | None:
        """The thread of a notified incident of the same group that is firing up to `day` (adjacent or
        on it), oldest first; None when there is none."""
        a = schema.alerts
        group = dest.thread_group(labels)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(a.c.thread_key, a.c.first_partition).where(
                a.c.status == "firing", a.c.suppressed.is_(None), a.c.receiver == dest.receiver,
                a.c.thread_key.is_not(None), a.c.last_partition >= day - ONE_DAY,
                a.c.first_partition <= day)).all()
        threads = sorted((key.rsplit("|", 1)[1], key) for key, _ in rows if key.rsplit("|", 1)[0] == group)
        return threads[0][1] if threads else None

    def _thread_firing(self, thread_key: str | None, resolving: set[str]) -> bool:
        """Whether an alert of this thread, other than those resolving now, is still firing."""
        if thread_key is None:
            return False
        a = schema.alerts
        with self.engine.connect() as conn:
            ids = conn.execute(sa.select(a.c.id).where(a.c.thread_key == thread_key,
                                                       a.c.status == "firing")).scalars().all()
        return bool(set(ids) - resolving)

    def _streak(self, fp: str, day: dt.date, decision: str, receiver: str) -> int:
        """How many partitions right before `day` this fingerprint got `decision` in a row for `receiver`."""
        d = schema.decisions
        with self.engine.connect() as conn:
            rows = dict(conn.execute(sa.select(d.c.partition, d.c.decision).where(
                d.c.fingerprint == fp, d.c.receiver == receiver, d.c.partition < day,
                d.c.partition >= day - dt.timedelta(days=60))).all())
        count = 0
        while rows.get(day - dt.timedelta(days=count + 1)) == decision:
            count += 1
        return count

    def _recent_incidents(self, fp: str, day: dt.date, receiver: str) -> int:
        a = schema.alerts
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(a).where(
                a.c.fingerprint == fp, a.c.receiver == receiver, a.c.first_partition < day,
                a.c.first_partition >= day - dt.timedelta(days=self.flap_window_days))).scalar_one()

    # ---- storage --------------------------------------------------------------------
    def _decided(self, fp: str, day: dt.date, receiver: str) -> bool:
        d = schema.decisions
        with self.engine.connect() as conn:
            return conn.execute(sa.select(d.c.fingerprint).where(
                d.c.fingerprint == fp, d.c.partition == day, d.c.receiver == receiver)).first() is not None

    def _incident_covering(self, fp: str, day: dt.date, receiver: str) -> dict | None:
        """The receiver's incident this partition belongs to: overlapping or adjacent to a firing one."""
        a = schema.alerts
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(a).where(a.c.fingerprint == fp, a.c.receiver == receiver)).mappings().all()
        for inc in rows:
            end = inc["resolved_partition"] - ONE_DAY if inc["resolved_partition"] else None
            if inc["status"] == "firing" and inc["first_partition"] - ONE_DAY <= day:
                return dict(inc)
            if end is not None and inc["first_partition"] <= day <= end:
                return dict(inc)
        return None

    def _record(self, d: Decision, now: dt.datetime) -> bool:
        """Claim the (fingerprint, partition, receiver) decision; False if another run got there first."""
        try:
            with self.engine.begin() as conn:
                conn.execute(schema.decisions.insert().values(
                    fingerprint=d.fingerprint, partition=d.partition, alert_id=d.alert_id,
                    decision=d.decision, reason=d.reason,
                    receiver=d.destination.receiver,
                    notification_key=notification_key(d) if d.sends else None, decided_at=now))
            return True
        except IntegrityError:
            return False

    def _claim(self, d: Decision, now: dt.datetime, *, new: bool = False, extend: dict | None = None,
               first: dt.date | None = None) -> Decision:
        if not self._record(d, now):
            return Decision(d.fingerprint, d.partition, "duplicate", "decided by a concurrent run", d.alert)
        a, alert = schema.alerts, d.alert
        with self.engine.begin() as conn:
            if d.alert_id is not None:
                conn.execute(schema.alert_values.insert().values(
                    fingerprint=d.fingerprint, partition=d.partition, receiver=d.destination.receiver,
                    alert_id=d.alert_id, revision=0,
                    **_said(alert)))
            if new:
                conn.execute(a.insert().values(
                    id=d.alert_id, fingerprint=d.fingerprint, kind=alert.kind, subject=alert.subject,
                    labels=alert.labels, severity=alert.severity, status="firing",
                    first_partition=first or alert.partition, last_partition=alert.partition,
                    first_fired_at=now, last_fired_at=now, message=alert.message,
                    observed=alert.observed, expected=alert.expected, lower=alert.lower, upper=alert.upper,
                    impact=alert.impact, root_causes=list(alert.root_causes) or None, team=alert.team,
                    table_name=alert.table, receiver=d.destination.receiver, thread_key=d.thread_key,
                    suppressed=None if d.decision == "notify" else d.reason))
            elif extend is not None:
                values = {"first_partition": min(extend["first_partition"], alert.partition),
                          "last_partition": max(extend["last_partition"], alert.partition),
                          # Each partition is decided once, so adding its impact never double-counts.
                          "impact": combine_impacts(extend["impact"], alert.impact)}
                if alert.partition > extend["last_partition"]:
                    values.update(last_fired_at=now, message=alert.message, observed=alert.observed,
                                  expected=alert.expected, lower=alert.lower, upper=alert.upper,
                                  root_causes=list(alert.root_causes) or extend["root_causes"])
                conn.execute(a.update().where(a.c.id == extend["id"]).values(**values))
        return d

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
    is of the summed reported totals (each day's total is events / share)."""
    if not a or not b:
        return a or b
    events = a["events"] + b["events"]
    totals = sum(x["events"] / x["share_of_total"] for x in (a, b) if x.get("share_of_total"))
    return {"events": round(events, 1), "lower": round(a["lower"] + b["lower"], 1),
            "upper": round(a["upper"] + b["upper"], 1),
            "share_of_total": round(events / totals, 6) if totals else 0.0,
            "direction": "under" if events < 0 else "over", "partitions": a.get("partitions", 1) + 1,
            "side": a.get("side") if a.get("side") == b.get("side") else "mixed"}


def incident_id(fp: str, first_partition: dt.date, extra_receiver: str | None = None) -> str:
    """`<fingerprint>-<first partition>`; a further receiver of a `continue: true` route keeps its own
    incident, told apart by a short hash of its name (the id stays within 64 characters)."""
    base = f"{fp}-{first_partition.isoformat()}"
    if extra_receiver is None:
        return base
    return f"{base}-{hashlib.sha256(extra_receiver.encode()).hexdigest()[:8]}"


def notification_key(d: Decision) -> str:
    # A join and a repeat of one thread in one run are a single "still firing" reply; each correction
    # of a partition is its own reply.
    action = "repeat" if d.decision == "join" else d.decision
    revision = f"|{d.extra['revision']}" if d.decision == "correct" else ""
    return f"{d.thread_key}|{action}|{d.partition.isoformat()}{revision}"


_NUMBERS = ("observed", "expected", "lower", "upper")


def _said(alert: Alert | None) -> dict:
    """The recorded values of a partition: the alert's, or clean (no values) when None."""
    if alert is None:
        return {"breaching": False, "message": None, **dict.fromkeys(_NUMBERS)}
    return {"breaching": True, "message": alert.message, **{k: getattr(alert, k) for k in _NUMBERS}}


def _changed(said, alert: Alert | None) -> bool:
    """Whether a partition says something else now: breaching or clean, or other numbers (to float
    noise), or for an alert without numbers another message."""
    if alert is None or not said["breaching"]:
        return said["breaching"] != (alert is not None)
    now = _said(alert)
    numbers = [(said[k], now[k]) for k in _NUMBERS if said[k] is not None or now[k] is not None]
    if not numbers:
        return said["message"] != now["message"]
    return any(x is None or y is None or not math.isclose(x, y, rel_tol=1e-9) for x, y in numbers)


def _num(value: float | None) -> str:
    return "n/a" if value is None else (f"{value:,.4g}" if abs(value) < 10 else f"{value:,.0f}")


def _inhibitor(alert: Alert, candidates: list[Alert], rules) -> Alert | None:
    labels = alert.match_labels
    for rule in rules:
        if not matches(rule.target, labels):
            continue
        for other in candidates:
            other_labels = other.match_labels
            if other is not alert and matches(rule.source, other_labels) and all(
                    other_labels.get(k) == labels.get(k) for k in rule.equal):
                return other
    return None
