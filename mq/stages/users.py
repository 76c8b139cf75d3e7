"""The pull stage's pair-level step: distinct users of every pair with a `user_column` (pulls/users.py),
after both of its tables were pulled, stored as versioned metrics of the pair.

A day is read and recorded only when the latest pull of both tables is `ok`: a missing side would make
every warehouse user look missed, and a partition whose files could not be read would fail the job
(the table pull already reported it). The days that are read go to Spark as spans of consecutive days,
one job per span (a backfill with every day in order: one job). Recording is idempotent
(`MetricStore.record_pair_points`): a re-run or a backfill over the same data writes nothing; changed
data (late rows) is a new version.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from core.config import user_metric_names

log = logging.getLogger("mq.pull")


def pulled_days(store, tables: tuple[str, ...], start: dt.date, end: dt.date) -> dict[dt.date, str]:
    """Each day of [start, end] -> "" when every table's latest pull is `ok`, else why it is skipped."""
    # (table, day) -> status of its latest pull version (the last one written wins): one read for the range.
    pulls = store.pulls(start, end).sort_values("version")
    latest = {(t, d): s for t, d, s in zip(pulls["table_name"], pulls["partition"], pulls["status"])}
    out, day = {}, start
    while day <= end:
        bad = [t for t in tables if latest.get((t, day)) != "ok"]
        out[day] = f"{bad[0]} not pulled ok" if bad else ""
        day += dt.timedelta(days=1)
    return out


def spans(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted days as (first, last) runs of consecutive days."""
    out: list[list[dt.date]] = []
    for day in sorted(days):
        if out and day == out[-1][1] + dt.timedelta(days=1):
            out[-1][1] = day
        else:
            out.append([day, day])
    return [(a, b) for a, b in out]


def record_users(store, pair: str, tables: tuple[str, ...], start: dt.date, end: dt.date,
                 scan: Callable[[dt.date, dt.date], dict]) -> list[dict]:
    """Read (`scan(first, last)`: day -> that day's user points) and store the users of `pair` on the days
    of [start, end] whose `tables` were pulled `ok`; one outcome per day, recorded or skipped."""
    why = pulled_days(store, tables, start, end)
    day_points: dict = {}
    for first, last in spans([d for d, reason in why.items() if not reason]):
        day_points.update(scan(first, last))
    out = []
    for day, reason in why.items():
        points = day_points.get(day)
        if reason or points is None or points.empty:
            out.append({"pair": pair, "partition": day.isoformat(), "status": "skipped",
                        "reason": reason or "no warehouse users"})
        else:
            version, changed = store.record_pair_points(user_metric_names(pair), day, points)
            out.append({"pair": pair, "partition": day.isoformat(), "status": "ok", "version": version,
                        "changed": changed})
        log.info("users of %s", pair, extra={"mq": out[-1]})
    return out


def run_user_pulls(pipe, start: dt.date, end: dt.date) -> list[dict]:
    """Pull and record the users of every pair with a user column over [start, end]."""
    from pulls.users import UserPlan, pull_users, user_pairs

    out = []
    for pair in user_pairs(pipe.config):
        plan = UserPlan.from_config(pipe.config, pair)
        out += record_users(pipe.store, pair, (plan.client_table, plan.warehouse_table), start, end,
                            lambda first, last, pair=pair: pull_users(pipe.spark, pipe.config, pair, first, last))
    return out
