"""Writing certifications down: a row per certified (subject, partition, pull versions) and a ledger
record; a restatement or a later failure revokes the active one, with a ledger record and a notice
to the subject's route (the people who may already have used the number)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from status.schema import certifications as _T


def active(engine, subject: str, partition: dt.date) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(_T).where(_T.c.subject == subject, _T.c.partition == partition,
                                               _T.c.revoked_at.is_(None))).mappings().first()
    return dict(row) if row else None


def history(engine, start: dt.date, end: dt.date) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(_T).where(_T.c.partition >= start, _T.c.partition <= end)
                                              .order_by(_T.c.partition, _T.c.id)).mappings()]


def record(pipe, found, now: dt.datetime) -> list[str]:
    """Record what changed for `found` (PartitionStatus list); returns the subjects newly certified."""
    certified = []
    for s in found:
        current = active(pipe.engine, s.subject, s.partition)
        if current is not None and (current["pull_versions"] != s.pull_versions or s.status != "certified"):
            restated = current["pull_versions"] != s.pull_versions
            reason = (f"restated: late data changed the pulls ({current['pull_versions']} -> {s.pull_versions})"
                      if restated else f"now {s.status}: {s.reason}")
            _revoke(pipe, current, reason, now)
            current = None
        if s.status == "certified" and current is None:
            try:
                with pipe.engine.begin() as conn:
                    conn.execute(_T.insert().values(subject=s.subject, partition=s.partition,
                                                    pull_versions=s.pull_versions, certified_at=now))
            except sa.exc.IntegrityError:   # certified once, revoked, and the same data came back
                with pipe.engine.begin() as conn:
                    conn.execute(_T.update().where(_T.c.subject == s.subject, _T.c.partition == s.partition,
                                                   _T.c.pull_versions == s.pull_versions)
                                 .values(certified_at=now, revoked_at=None, revoked_reason=None))
            pipe.ledger.append("certification", f"certification:{s.subject}:{s.partition}:{s.pull_versions}:"
                                                f"{_count(pipe, s)}", {
                "subject": s.subject, "partition": s.partition.isoformat(), "pull_versions": s.pull_versions,
                "status": "certified", "at": now.isoformat()}, partition=s.partition)
            certified.append(s.subject)
    return certified


def _count(pipe, s) -> int:
    """How many times this data was certified before (a re-certification after a revocation is new)."""
    return len([r for r in pipe.ledger.records(kind="certification_revoked", start=s.partition, end=s.partition)
                if r.payload["subject"] == s.subject and r.payload["pull_versions"] == s.pull_versions])


def _revoke(pipe, row: dict, reason: str, now: dt.datetime) -> None:
    with pipe.engine.begin() as conn:
        conn.execute(_T.update().where(_T.c.id == row["id"]).values(revoked_at=now, revoked_reason=reason))
    key = f"revoked:{row['subject']}:{row['partition']}:{row['pull_versions']}"
    n = len([r for r in pipe.ledger.records(kind="certification_revoked", start=row["partition"],
                                            end=row["partition"]) if r.key.startswith(key)])
    pipe.ledger.append("certification_revoked", f"{key}:{n}", {
        "subject": row["subject"], "partition": row["partition"].isoformat(),
        "pull_versions": row["pull_versions"], "reason": reason, "at": now.isoformat()}, partition=row["partition"])
    _notify(pipe, row, reason, n)


def _notify(pipe, row: dict, reason: str, n: int) -> None:
    from alerting.notification import Notification
    from alerting.route import route

    subject, partition = row["subject"], row["partition"]
    labels = {"kind": "certification", "metric": subject, "partition": partition.isoformat(),
              "severity": "warning"}
    for dest in route(pipe.config.alerting.route, labels):   # every receiver of a `continue: true` route
        pipe.outbox.enqueue(dest.receiver, Notification(
            key=f"certification|{subject}|{partition}|{row['pull_versions']}|revoked|{n}",
            thread_key=f"certification|{subject}|{partition}", action="firing",
            title=f"certification revoked: {subject} for {partition} ({reason})", severity="warning",
            kind="certification", metric=subject, partition=partition.isoformat(), alerts=(),
            links=dict(pipe.links(partition))))
