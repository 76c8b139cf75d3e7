"""The incident book: every notified alert group becomes an incident; people move it through the
workflow; every move is written to the ledger first-class (kind "incident").

    book = IncidentBook(engine, ledger)
    book.sync(Ownership.from_config(config))         # after the alert stage: new groups -> incidents
    book.act("inc-...", "ack", by="ana")
    book.act("inc-...", "signoff", by="lead", disposition="remediated", note="reloaded the partition")
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from alerting import schema as alert_schema
from incidents.errors import IncidentError
from incidents.schema import incidents as _T
from incidents.workflow import FINAL, Transition, next_status
from core.timeutil import assume_utc, utcnow

LEDGER_KIND = "incident"
# Ledger kind of a change accepted as the new baseline (the detect stage reads these back).
BASELINE_KIND = "baseline"
_SEVERITY = {"critical": 3, "error": 2, "warning": 1}


def incident_id(thread_key: str) -> str:
    """A short, stable id for the alert group of `thread_key` (the same on every re-run and in Slack)."""
    return "inc-" + hashlib.sha256(thread_key.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Incident:
    id: str
    title: str
    owner: str
    status: str
    severity: str
    first_partition: dt.date
    opened_at: dt.datetime
    row: dict

    @property
    def open(self) -> bool:
        return self.status not in FINAL


class IncidentBook:
    def __init__(self, engine: sa.Engine, ledger) -> None:
        self.engine, self.ledger = engine, ledger

    # ---- opening ------------------------------------------------------------------------
    def sync(self, ownership: "Ownership", now: dt.datetime | None = None) -> list[Incident]:
        """Open an incident for every notified alert group that has none yet; returns the new ones."""
        return [i for i in (self.open(n) for n in self.to_open(ownership, now)) if i is not None]

    def to_open(self, ownership: "Ownership", now: dt.datetime | None = None) -> list["NewIncident"]:
        """The incidents `sync` opens, as data: one per notified alert group that has none yet."""
        now = now or utcnow()
        a = alert_schema.alerts
        with self.engine.connect() as conn:
            known = set(conn.execute(sa.select(_T.c.thread_key)).scalars())
            rows = conn.execute(sa.select(a).where(a.c.thread_key.is_not(None))
                                .order_by(a.c.first_partition, a.c.id)).mappings().all()
        groups: dict[str, list[dict]] = {}
        for r in rows:
            if r["thread_key"] not in known:
                groups.setdefault(r["thread_key"], []).append(dict(r))
        return [new_incident(ownership, thread_key, alerts, now) for thread_key, alerts in groups.items()]

    def open(self, new: "NewIncident") -> Incident | None:
        """Insert `new` and append its ledger record; None when a concurrent run opened it first."""
        try:
            with self.engine.begin() as conn:
                conn.execute(_T.insert().values(**new.values))
        except sa.exc.IntegrityError:
            return None   # a concurrent run opened it
        self.ledger.append(LEDGER_KIND, new.key, new.payload, partition=new.first_partition)
        return self.get(new.id)

    # ---- acting -------------------------------------------------------------------------
    def act(self, iid: str, action: str, *, by: str, note: str | None = None, assignee: str | None = None,
            disposition: str | None = None, now: dt.datetime | None = None, via: str = "cli") -> Transition:
        """Apply one workflow action; raises IncidentError when it is not allowed."""
        if not (by or "").strip():
            raise IncidentError(f"{action}: --by (who does it) is required (got {by!r})")
        now = now or utcnow()
        inc = self.get(iid)
        t = next_status(inc.status, action, disposition=disposition, assignee=assignee, note=note)
        values: dict = {"status": t.to_status, "version": inc.row["version"] + 1}
        if inc.row["acknowledged_at"] is None and action in ("ack", "assign"):
            values.update(acknowledged_at=now, acknowledged_by=by)
        if action == "assign":
            values["assignee"] = assignee
        if action == "resolve":
            values.update(resolved_at=now, resolved_by=by, resolution=note)
        if action == "signoff":
            values.update(signed_off_at=now, signed_off_by=by, disposition=disposition, signoff_note=note)
        with self.engine.begin() as conn:
            # Compare-and-set on the version: two people acting at once cannot both win.
            done = conn.execute(_T.update().where(_T.c.id == iid, _T.c.version == inc.row["version"])
                                .values(**values)).rowcount
        if not done:
            raise IncidentError(f"{iid} changed while you acted on it; look again (mq incidents show {iid})")
        self.ledger.append(LEDGER_KIND, f"incident:{iid}:{values['version']}:{action}", {
            "incident_id": iid, "action": action, "from": t.from_status, "to": t.to_status, "by": by,
            "note": note, "assignee": assignee, "disposition": disposition, "via": via, "at": now.isoformat()},
            partition=inc.first_partition)
        return t

    def accept_change(self, iid: str, *, by: str, note: str) -> list[dict]:
        """Accept what an incident's anomaly and discrepancy alerts measured as the new normal.

        One ledger record per subject (kind "baseline"): for every alerted slice, the day its change
        began (`baseline_since`, the alert's first partition) and the last flagged day the acceptance
        covers (`until`, its last partition). From the next run on, those slices' baselines restart at
        `baseline_since` (`detectors.baseline`); flags after `until` are new incidents again."""
        from pulls.pull import slice_key

        by_subject: dict[str, list[dict]] = {}
        for a in self.alerts(iid):
            if a["kind"] in ("anomaly", "discrepancy"):
                by_subject.setdefault(a["subject"], []).append({
                    "slice_key": slice_key(dict(a["labels"])), "baseline_since": str(a["first_partition"]),
                    "until": str(a["last_partition"])})
        records = []
        for subject, accepted in sorted(by_subject.items()):
            until = max(dt.date.fromisoformat(x["until"]) for x in accepted)
            self.ledger.append(BASELINE_KIND, f"baseline:{subject}:accepted:{iid}", {
                "subject": subject, "incident_id": iid, "by": by,
                "reason": f"accepted as the new baseline by {by} on resolving {iid}: {note}",
                "accepted": sorted(accepted, key=lambda x: x["slice_key"])}, partition=until)
            records.append({"subject": subject, "accepted": accepted})
        return records

    # ---- reading ------------------------------------------------------------------------
    def get(self, iid: str) -> Incident:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_T).where(_T.c.id == iid)).mappings().first()
        if row is None:
            raise IncidentError(f"unknown incident {iid!r} (mq incidents list shows them)")
        return _incident(row)

    def list(self, *, status: str | None = None, open_only: bool = False) -> list[Incident]:
        q = sa.select(_T).order_by(_T.c.first_partition.desc(), _T.c.id)
        if status:
            q = q.where(_T.c.status == status)
        if open_only:
            q = q.where(_T.c.status.not_in(FINAL))
        with self.engine.connect() as conn:
            return [_incident(r) for r in conn.execute(q).mappings()]

    def alerts(self, iid: str) -> list[dict]:
        inc = self.get(iid)
        a = alert_schema.alerts
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(a).where(a.c.thread_key == inc.row["thread_key"])
                                                  .order_by(a.c.kind, a.c.subject, a.c.id)).mappings()]

    def timeline(self, iid: str) -> list[dict]:
        """The incident's ledger records, oldest first: what happened, who did it, when."""
        inc = self.get(iid)
        return [{"seq": r.seq, "recorded_at": r.recorded_at, **r.payload}
                for r in self.ledger.records(kind=LEDGER_KIND, start=inc.first_partition, end=inc.first_partition)
                if r.payload.get("incident_id") == iid]


@dataclass(frozen=True)
class Ownership:
    """Who an incident belongs to when its alerts' routing named no team: the owner of each table, and
    the table of each metric (the config's)."""
    tables: Mapping[str, str | None] = field(default_factory=dict)    # table -> its owner
    metrics: Mapping[str, str] = field(default_factory=dict)          # metric -> its table

    @classmethod
    def from_config(cls, config) -> "Ownership":
        return cls({t: spec.owner for t, spec in config.tables.items()},
                   {m: spec.table for m, spec in config.metrics.items()})


@dataclass(frozen=True)
class NewIncident:
    """An incident to open: its row (`values`) and its ledger record (kind "incident", `key`, `payload`)."""
    values: dict
    key: str
    payload: dict

    @property
    def id(self) -> str:
        return self.values["id"]

    @property
    def first_partition(self) -> dt.date:
        return self.values["first_partition"]


def new_incident(ownership: Ownership, thread_key: str, alerts: list[dict], now: dt.datetime) -> NewIncident:
    """The incident of one notified alert group (`alerts`, rows of the alert book)."""
    iid = incident_id(thread_key)
    worst = max(alerts, key=lambda r: _SEVERITY.get(r["severity"], 0))
    first = min(r["first_partition"] for r in alerts)
    kinds = sorted({r["kind"] for r in alerts})
    subjects = sorted({r["subject"] for r in alerts})
    title = (f"{len(alerts)} {'/'.join(kinds)} alert{'s' if len(alerts) > 1 else ''} on "
             f"{', '.join(subjects)} for {first}")
    values = dict(id=iid, thread_key=thread_key, title=title, owner=_owner(ownership, alerts),
                  receiver=worst["receiver"], severity=worst["severity"], status="open",
                  first_partition=first, opened_at=now, version=0)
    return NewIncident(values, f"incident:{iid}:opened", {
        "incident_id": iid, "action": "open", "to": "open", "title": title, "owner": values["owner"],
        "severity": values["severity"], "alerts": [r["id"] for r in alerts], "at": now.isoformat()})


def _incident(row) -> Incident:
    row = {k: (assume_utc(v) if isinstance(v, dt.datetime) else v) for k, v in dict(row).items()}
    return Incident(id=row["id"], title=row["title"], owner=row["owner"], status=row["status"],
                    severity=row["severity"], first_partition=row["first_partition"], opened_at=row["opened_at"],
                    row=row)


def _owner(ownership: Ownership, alerts: list[dict]) -> str:
    """The team the routing labels named (most alerts first), else the owner of the table concerned,
    else the receiver the route chose."""
    teams = Counter(r["team"] for r in alerts if r["team"])
    if teams:
        return teams.most_common(1)[0][0]
    for r in alerts:
        table = r["table_name"] or ownership.metrics.get(r["subject"])
        if table in ownership.tables:
            return ownership.tables[table]
    return alerts[0]["receiver"] or "unowned"
