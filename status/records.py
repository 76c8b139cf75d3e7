"""Writing certifications down: a row per certified (subject, partition, pull versions) and a ledger
record; a restatement or a later failure revokes the active one, with a ledger record and a notice
to the subject's route (the people who may already have used the number).

`changes` says what recording a verdict writes, as data, from the certifications and the ledger it
reads (`Change`: the row, its ledger record, its notices); `write` applies them in order; `record`
does both."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from status.schema import certifications as _T

REVOKED_KIND = "certification_revoked"
CERTIFIED_KIND = "certification"


@dataclass(frozen=True)
class Change:
    """One write of a certification: the active one revoked (`action` "revoke", `row_id` and `reason`
    set, with notices to the subject's route) or the verdict certified (`action` "certify"), at
    `at`; with the ledger record (`kind`, `key`, `payload`) that states it."""
    action: str
    subject: str
    partition: dt.date
    pull_versions: str
    kind: str
    key: str
    payload: dict
    at: dt.datetime
    row_id: int | None = None
    reason: str | None = None
    notifications: tuple = ()         # (receiver, alerting.notification.Notification)


def active(engine, subject: str, partition: dt.date) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(_T).where(_T.c.subject == subject, _T.c.partition == partition,
                                               _T.c.revoked_at.is_(None))).mappings().first()
    return dict(row) if row else None


def history(engine, start: dt.date, end: dt.date) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(_T).where(_T.c.partition >= start, _T.c.partition <= end)
                                              .order_by(_T.c.partition, _T.c.id)).mappings()]


def changes(engine, ledger, found, now: dt.datetime, *, route, links: Mapping[str, str] | None = None
            ) -> list[Change]:
    """What recording `found` (PartitionStatus list) changes, in order, against the active
    certifications in `engine` and the revocations in `ledger`; writes nothing.

    `route`: the routing tree a revocation's notice follows (`core.config.RouteSpec`); `links`: its links."""
    out = []
    for s in found:
        current = active(engine, s.subject, s.partition)
        if current is not None and (current["pull_versions"] != s.pull_versions or s.status != "certified"):
            restated = current["pull_versions"] != s.pull_versions
            reason = (f"restated: late data changed the pulls ({current['pull_versions']} -> {s.pull_versions})"
                      if restated else f"now {s.status}: {s.reason}")
            out.append(_revocation(ledger, current, reason, now, route, links or {}))
            current = None
        if s.status == "certified" and current is None:
            out.append(Change("certify", s.subject, s.partition, s.pull_versions, CERTIFIED_KIND,
                              f"certification:{s.subject}:{s.partition}:{s.pull_versions}:{_count(ledger, s)}", {
                "subject": s.subject, "partition": s.partition.isoformat(), "pull_versions": s.pull_versions,
                "status": "certified", "at": now.isoformat()}, now))
    return out


def write(engine, ledger, outbox, todo: Sequence[Change]) -> list[str]:
    """Apply `todo` (from `changes`) in order: the certifications' rows, their ledger records, the
    revocations' notices in `outbox`; returns the subjects newly certified."""
    certified = []
    for c in todo:
        if c.action == "revoke":
            with engine.begin() as conn:
                conn.execute(_T.update().where(_T.c.id == c.row_id).values(revoked_at=c.at, revoked_reason=c.reason))
            ledger.append(c.kind, c.key, c.payload, partition=c.partition)
            for receiver, notification in c.notifications:
                outbox.enqueue(receiver, notification)
            continue
        try:
            with engine.begin() as conn:
                conn.execute(_T.insert().values(subject=c.subject, partition=c.partition,
                                                pull_versions=c.pull_versions, certified_at=c.at))
        except sa.exc.IntegrityError:   # certified once, revoked, and the same data came back
            with engine.begin() as conn:
                conn.execute(_T.update().where(_T.c.subject == c.subject, _T.c.partition == c.partition,
                                               _T.c.pull_versions == c.pull_versions)
                             .values(certified_at=c.at, revoked_at=None, revoked_reason=None))
        ledger.append(c.kind, c.key, c.payload, partition=c.partition)
        certified.append(c.subject)
    return certified


def record(engine, ledger, outbox, found, now: dt.datetime, *, route,
           links: Mapping[str, str] | None = None) -> list[str]:
    """Record what changed for `found` (PartitionStatus list); returns the subjects newly certified."""
    return write(engine, ledger, outbox, changes(engine, ledger, found, now, route=route, links=links))


def _count(ledger, s) -> int:
    """How many times this data was certified before (a re-certification after a revocation is new)."""
    return len([r for r in ledger.records(kind=REVOKED_KIND, start=s.partition, end=s.partition)
                if r.payload["subject"] == s.subject and r.payload["pull_versions"] == s.pull_versions])


def _revocation(ledger, row: dict, reason: str, now: dt.datetime, route, links: Mapping[str, str]) -> Change:
    key = f"revoked:{row['subject']}:{row['partition']}:{row['pull_versions']}"
    n = len([r for r in ledger.records(kind=REVOKED_KIND, start=row["partition"],
                                       end=row["partition"]) if r.key.startswith(key)])
    return Change("revoke", row["subject"], row["partition"], row["pull_versions"], REVOKED_KIND, f"{key}:{n}", {
        "subject": row["subject"], "partition": row["partition"].isoformat(),
        "pull_versions": row["pull_versions"], "reason": reason, "at": now.isoformat()}, now,
        row_id=row["id"], reason=reason, notifications=tuple(_notices(row, reason, n, route, links)))


def _notices(row: dict, reason: str, n: int, route_tree, links: Mapping[str, str]) -> list[tuple]:
    from alerting.notification import Notification
    from alerting.route import route

    subject, partition = row["subject"], row["partition"]
    labels = {"kind": "certification", "metric": subject, "partition": partition.isoformat(),
              "severity": "warning"}
    return [(dest.receiver, Notification(   # every receiver of a `continue: true` route
        key=f"certification|{subject}|{partition}|{row['pull_versions']}|revoked|{n}",
        thread_key=f"certification|{subject}|{partition}", action="firing",
        title=f"certification revoked: {subject} for {partition} ({reason})", severity="warning",
        kind="certification", metric=subject, partition=partition.isoformat(), alerts=(),
        links=dict(links))) for dest in route(route_tree, labels)]
