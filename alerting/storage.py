"""The alert book's storage: load a run's state in bulk, and write the changes its decisions imply.

`engine` is a SQLAlchemy engine, or anything with its `connect()` / `begin()` (the lifecycle's one
open transaction). Each change is written in its own `begin()`; a change whose decision row another
run already claimed (the primary key of `mq_alert_decisions`) writes nothing and is reported refused.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from alerting import schema
from alerting.alert import Alert
from alerting.silences import Silence
from alerting.state import STREAK_DAYS, Change, RunState


def load_state(engine, partition: dt.date, candidates: list[Alert], clean: set[str], *,
               inhibit_rules: Sequence = (), flap_max_incidents: int = 3, flap_window_days: int = 14) -> RunState:
    """Everything the steps read for one run, in four queries."""
    fingerprints = sorted({a.fingerprint for a in candidates} | set(clean))
    days = {a.partition for a in candidates} | {partition}
    d, a, v, s = schema.decisions, schema.alerts, schema.alert_values, schema.silences
    with engine.connect() as conn:
        decided: dict[tuple[str, str], dict[dt.date, str]] = {}
        for fp, receiver, day, decision in conn.execute(sa.select(
                d.c.fingerprint, d.c.receiver, d.c.partition, d.c.decision).where(
                d.c.fingerprint.in_(fingerprints), d.c.partition <= max(days),
                d.c.partition >= min(days) - dt.timedelta(days=STREAK_DAYS))):
            decided.setdefault((fp, receiver), {})[day] = decision
        # Threads span fingerprints, so every firing incident is read, and all of the run's own.
        incidents = {row["id"]: dict(row) for row in conn.execute(sa.select(a).where(
            sa.or_(a.c.status == "firing", a.c.fingerprint.in_(fingerprints)))).mappings()}
        values = {(row["fingerprint"], row["partition"], row["receiver"]): dict(row) for row in conn.execute(
            sa.select(v).where(v.c.fingerprint.in_(fingerprints), v.c.partition.in_(sorted(days)))).mappings()}
        silences = [Silence(**row) for row in conn.execute(
            sa.select(s).where(s.c.expired_at.is_(None)).order_by(s.c.id)).mappings()]
    return RunState(partition, list(candidates), silences, decided, incidents, values, tuple(inhibit_rules),
                    flap_max_incidents, flap_window_days)


def write(engine, changes: Iterable[Change]) -> list[bool]:
    """Write each change; for each, whether it was written (False: its decision was already claimed)."""
    return [_write_one(engine, change) for change in changes]


def _write_one(engine, change: Change) -> bool:
    a, v = schema.alerts, schema.alert_values
    try:
        with engine.begin() as conn:
            if change.decision is not None:
                conn.execute(schema.decisions.insert().values(**change.decision))
            if change.values_insert is not None:
                conn.execute(v.insert().values(**change.values_insert))
            if change.values_update is not None:
                (fp, day, receiver), new = change.values_update
                conn.execute(v.update().where(v.c.fingerprint == fp, v.c.partition == day,
                                              v.c.receiver == receiver).values(**new))
            if change.incident_insert is not None:
                conn.execute(a.insert().values(**change.incident_insert))
            if change.incident_update is not None:
                incident, new = change.incident_update
                conn.execute(a.update().where(a.c.id == incident).values(**new))
        return True
    except IntegrityError:
        if change.decision is None:
            raise
        return False
