"""What the status page shows, as plain data: the certification grid of a period, open incidents with
their evidence, and each metric's recent history with its incident days."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from alerting import schema as alert_schema
from incidents import incident_id
from status.certify import certified_subjects, partition_statuses, subjects

PERIOD_DAYS = 14
HISTORY_DAYS = 42


def latest_partition(store) -> dt.date | None:
    """The newest partition the metric store has a run of."""
    runs = store.runs()
    return None if runs.empty else max(runs.partition)


def grid(config, store, day: dt.date, days: int = PERIOD_DAYS) -> dict:
    """{"days": [...], "rows": {subject: [PartitionStatus per day]}}, oldest day first, from what the
    metric store (`store`) holds."""
    period = [day - dt.timedelta(days=k) for k in range(days - 1, -1, -1)]
    rows: dict[str, list] = {s: [] for s in subjects(config)}
    certified, settle = certified_subjects(config), config.certification.settle_hours
    for d in period:
        for s in partition_statuses(certified, store, d, settle_hours=settle):
            rows[s.subject].append(s)
    return {"days": period, "rows": rows}


def history(cfg, store, subject: str, day: dt.date, days: int = HISTORY_DAYS):
    """(series of (partition, value), partition -> incident id) for the total of a metric or a pair's
    client/warehouse ratio, from the metric store (`store`) and the alerts in its database."""
    start = day - dt.timedelta(days=days - 1)
    period = [start + dt.timedelta(days=k) for k in range(days)]
    if subject in cfg.pairs:
        p = cfg.pairs[subject]
        names = [p.client, p.warehouse]
    else:
        names = [subject]
    pts = store.points(names, start, day, groupings=[""])
    values: dict[dt.date, float | None] = {d: None for d in period}
    if not pts.empty:
        wide = pts.pivot_table(index="partition", columns="metric", values="value")
        for d, row in wide.iterrows():
            if len(names) == 2:
                w = row.get(names[1])
                values[d] = float(row.get(names[0]) / w) if w else None
            else:
                values[d] = float(row[names[0]])
    a = alert_schema.alerts
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(a).where(a.c.last_partition >= start, a.c.first_partition <= day,
                                               a.c.thread_key.is_not(None))).mappings().all()
    tables = set(_tables(cfg, subject))
    marked = {}
    for r in rows:
        if r["subject"] == subject or r["table_name"] in tables:
            d = r["first_partition"]
            while d <= min(r["last_partition"], day):
                marked[d] = incident_id(r["thread_key"])
                d += dt.timedelta(days=1)
    return [(d, values[d]) for d in period], marked


def _tables(cfg, subject: str) -> list[str]:
    return subjects(cfg).get(subject, [])
