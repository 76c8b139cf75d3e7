"""The pull stage's pair-level step: distinct users of every pair with a `user_column` (pulls/users.py),
after both of its tables were pulled, stored as versioned metrics of the pair.

A day is recorded only when the latest pull of both tables is `ok`: a missing or failed side would
make every warehouse user look missed. Recording is idempotent (`MetricStore.record_pair_points`): a
re-run or a backfill over the same data writes nothing; changed data (late rows) is a new version.
"""
from __future__ import annotations

import datetime as dt
import logging

from core.config import user_metric_names

log = logging.getLogger("mq.pull")


def record_users(store, pair: str, day_points: dict, start: dt.date, end: dt.date,
                 tables: tuple[str, str]) -> list[dict]:
    """Store each day's user points of `pair` (`day_points`: day -> points) for the days of [start, end]
    whose two `tables` were pulled `ok`; returns one outcome per day recorded or skipped."""
    out, day = [], start
    while day <= end:
        bad = [t for t in tables if (store.latest_pull(t, day) or {}).get("status") != "ok"]
        points = day_points.get(day)
        if bad or points is None or points.empty:
            out.append({"pair": pair, "partition": day.isoformat(), "status": "skipped",
                        "reason": f"{bad[0]} not pulled ok" if bad else "no warehouse users"})
        else:
            version, changed = store.record_pair_points(user_metric_names(pair), day, points)
            out.append({"pair": pair, "partition": day.isoformat(), "status": "ok", "version": version,
                        "changed": changed})
        log.info("users of %s", pair, extra={"mq": out[-1]})
        day += dt.timedelta(days=1)
    return out


def run_user_pulls(pipe, start: dt.date, end: dt.date) -> list[dict]:
    """Pull and record the users of every pair with a user column over [start, end] (one Spark job per pair)."""
    from pulls.users import UserPlan, pull_users, user_pairs

    out = []
    for pair in user_pairs(pipe.config):
        plan = UserPlan.from_config(pipe.config, pair)
        day_points = pull_users(pipe.spark, pipe.config, pair, start, end)
        out += record_users(pipe.store, pair, day_points, start, end, (plan.client_table, plan.warehouse_table))
    return out
