"""Certification of a metric partition: can downstream teams use this day's number?

    certified    every control of the partition passed: the pulls are complete, the expectation suites
                 passed, the detectors ran and no alert covers it
    provisional  not yet run (a control has no result), or late data is still expected (the partition's
                 day ended less than `certification.settle_hours` before its pull)
    failed       a control failed; names the incident (or why the alert was not notified)

The decision is a pure function of the facts (`decide`). After every run, the certify stage
(`mq.stages.certify`, with `status.records.changes` and `write`) records a certification per
subject in the store and the ledger; a late-data restatement (a new pull version) of a certified
partition revokes it, in the ledger and with a notification, and so does an alert that now covers it
(a drift found late: its incident begins at the drift's onset, `backdated_partitions`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from alerting import schema as alert_schema
from incidents import Ownership, incident_id
from incidents.schema import incidents as incident_table
from metricstore import schema as store_schema
from status import schema as cert_schema
from core.timeutil import assume_utc

@dataclass(frozen=True)
class Facts:
    """What the stores say about one subject's partition (gathered by `facts`)."""
    pulls: dict[str, dict | None]                 # table -> latest pull (status, version, finished_at)
    suites: dict[str, bool | None]                # table -> latest suite result (None: not run; absent: no suite)
    detected: str | None                          # None: no detectors; "missing", "untested" (no history), "ran"
    alerts: list[dict] = field(default_factory=list)   # alerts covering the partition, false positives left out
    settles_at: dt.datetime | None = None         # late data expected until then


@dataclass(frozen=True)
class PartitionStatus:
    subject: str
    partition: dt.date
    status: str
    reason: str
    incidents: tuple[str, ...] = ()
    pull_versions: str = ""

    def to_json(self) -> dict:
        return {"subject": self.subject, "partition": self.partition.isoformat(), "status": self.status,
                "reason": self.reason, "incidents": list(self.incidents), "pull_versions": self.pull_versions}


def decide(f: Facts) -> tuple[str, str]:
    """(status, reason): failures first (a failure now stays one), then what has not run yet."""
    for table, pull in f.pulls.items():
        if pull is not None and pull["status"] != "ok":
            return "failed", f"partition of {table} is {pull['status']}"
    for table, passed in f.suites.items():
        if passed is False:
            return "failed", f"expectation suite of {table} failed"
    if f.alerts:
        a = f.alerts[0]
        how = f"incident {incident_id(a['thread_key'])}" if a["thread_key"] else f"not notified: {a['suppressed']}"
        return "failed", f"{len(f.alerts)} alert(s), e.g. {a['kind']} on {a['subject']} ({how})"
    missing = [t for t, p in f.pulls.items() if p is None]
    if missing:
        return "provisional", f"not yet pulled: {', '.join(missing)}"
    unchecked = [t for t, passed in f.suites.items() if passed is None]
    if unchecked:
        return "provisional", f"expectation suite not yet run on {', '.join(unchecked)}"
    if f.detected == "missing":
        return "provisional", "detectors not yet run"
    if f.detected == "untested":
        # A detector that had too little history to test the day has not passed it either.
        return "provisional", "too little history for the detectors to test this day"
    if f.settles_at is not None:
        return "provisional", f"late data expected until {f.settles_at:%Y-%m-%d %H:%M} UTC"
    return "certified", "every control passed"


def subjects(config) -> dict[str, list[str]]:
    """Subject (metric or pair) -> the tables its number is computed from."""
    out = {m: [s.table] for m, s in config.metrics.items()}
    for name, p in config.pairs.items():
        out[name] = sorted({config.metrics[p.client].table, config.metrics[p.warehouse].table})
    return out


@dataclass(frozen=True)
class Subject:
    """A metric or pair as certification sees it."""
    name: str
    tables: tuple[str, ...]                 # the tables its number is computed from
    suites: frozenset[str] = frozenset()    # those of its tables with an expectation suite
    detected: bool = True                   # whether it has detectors


def certified_subjects(config) -> tuple[Subject, ...]:
    """Every metric and pair of the config, with what its certification needs to know."""
    out = []
    for name, tables in subjects(config).items():
        spec = config.metrics.get(name) or config.pairs.get(name)
        out.append(Subject(name, tuple(tables), frozenset(t for t in tables if config.tables[t].suite),
                           bool(spec.detectors)))
    return tuple(out)


def facts(store, subject: Subject, partition: dt.date, *, settle_hours: float, checks=None, alerts=None,
          false_positive: set[str] = frozenset()) -> Facts:
    """What the metric store (`store`, and the alert book and incidents in its database) says about one
    subject's partition."""
    tables = list(subject.tables)
    pulls = {t: store.latest_pull(t, partition) for t in tables}
    checks = store.check_results(partition, partition) if checks is None else checks
    suites = {}
    for t in tables:
        if t in subject.suites:
            mine = checks[checks.table_name == t] if not checks.empty else checks
            suites[t] = None if mine.empty else bool(mine.sort_values("id").groupby("suite").tail(1).success.all())
    detected = _detection_state(store.engine, subject.name, partition) if subject.detected else None
    alerts = covering_alerts(store.engine, partition) if alerts is None else alerts
    mine = [a for a in alerts if (a["subject"] == subject.name or a["table_name"] in tables or a["subject"] in tables)
            and not (a["thread_key"] and incident_id(a["thread_key"]) in false_positive)]
    settles_at = None
    settle = dt.timedelta(hours=settle_hours)
    day_end = dt.datetime.combine(partition + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
    pulled_at = [assume_utc(p["finished_at"]) for p in pulls.values() if p is not None and p["finished_at"]]
    if settle and pulled_at and min(pulled_at) < day_end + settle:
        settles_at = day_end + settle
    return Facts(pulls=pulls, suites=suites, detected=detected, alerts=mine, settles_at=settles_at)


def partition_statuses(certified: tuple[Subject, ...], store, partition: dt.date, *,
                       settle_hours: float) -> list[PartitionStatus]:
    """The certification status of each of `certified` for one partition, from what `store` holds."""
    checks, alerts = store.check_results(partition, partition), covering_alerts(store.engine, partition)
    fp = false_positives(store.engine)
    out = []
    for subject in certified:
        f = facts(store, subject, partition, settle_hours=settle_hours, checks=checks, alerts=alerts,
                  false_positive=fp)
        status, reason = decide(f)
        incidents = tuple(sorted({incident_id(a["thread_key"]) for a in f.alerts if a["thread_key"]}))
        out.append(PartitionStatus(subject.name, partition, status, reason, incidents, _versions(f.pulls)))
    return out


@dataclass(frozen=True)
class CertifySettings:
    """The part of the config certification reads (`statuses`, and the certify stage)."""
    subjects: tuple[Subject, ...]
    settle_hours: float = 0.0     # late data is expected until this long after the partition's day ends
    route: Any = None             # the routing tree a revocation's notice follows (core.config.RouteSpec)
    ownership: Ownership = field(default_factory=Ownership)   # who an incident belongs to

    @classmethod
    def from_config(cls, config) -> "CertifySettings":
        return cls(certified_subjects(config), float(config.certification.settle_hours),
                   config.alerting.route, Ownership.from_config(config))


def statuses(settings: CertifySettings, store, partition: dt.date) -> list[PartitionStatus]:
    """The certification status of every subject `settings` certifies, for one partition."""
    return partition_statuses(settings.subjects, store, partition, settle_hours=settings.settle_hours)


def backdated_partitions(engine, partition: dt.date) -> list[dt.date]:
    """Earlier partitions that hold an active certification and that an alert live on `partition` now
    covers: a drift is found some days after its onset, and its incident covers the days since, which
    were certified on their own day. Their statuses are decided again (and the certifications revoked)."""
    a, c = alert_schema.alerts, cert_schema.certifications
    covered = sa.exists().where(a.c.last_partition >= partition, a.c.first_partition <= c.c.partition,
                                a.c.last_partition >= c.c.partition)
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(c.c.partition).distinct().where(
            c.c.partition < partition, c.c.revoked_at.is_(None), covered)).scalars())


def _detection_state(engine, subject: str, partition: dt.date) -> str:
    """"missing" (no verdict), "untested" (every verdict lacked history) or "ran"; counted in SQL
    because the status page asks this for every metric and day of its grid."""
    d = store_schema.detections
    tested = sa.func.sum(sa.case((d.c.status == "insufficient_history", 0), else_=1))
    with engine.connect() as conn:
        total, ran = conn.execute(sa.select(sa.func.count(), tested).where(
            d.c.subject == subject, d.c.partition == partition)).one()
    return "missing" if not total else "ran" if ran else "untested"


def _versions(pulls: dict[str, dict | None]) -> str:
    return ",".join(f"{t}={p['version']}" for t, p in sorted(pulls.items()) if p is not None)


def covering_alerts(engine, partition: dt.date) -> list[dict]:
    """The alerts whose partitions span `partition`."""
    a = alert_schema.alerts
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(a).where(
            a.c.first_partition <= partition, a.c.last_partition >= partition).order_by(a.c.id)).mappings()]


def false_positives(engine) -> set[str]:
    """Incidents signed off as false positives: their alerts do not fail a certification."""
    t = incident_table
    with engine.connect() as conn:
        return set(conn.execute(sa.select(t.c.id).where(t.c.status == "false_positive")).scalars())
