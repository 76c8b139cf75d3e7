"""Users the client missed, next to the events it missed: the sizing report's users section.

For a pair with a `user_column`, the pull stage stores per monitored slice and day the distinct users
the warehouse saw and how many of them the client never logged that day in that slice (pulls/users.py,
metrics `core.config.user_metric_names`). Here, per slice over its steady-state days (the same
exclusions as the event figures, `sizing.data`):

- user capture = 1 - sum(missed users) / sum(warehouse users), a ratio estimator over user-days
  (a user seen on three days counts three times: distinct users do not add up across days);
- users missed per steady-state day = sum(missed users) / steady-state days, with the interval of the
  event figures (`sizing.estimate`: the same circular block bootstrap over days, the same resampled
  days, with the binomial floor taken over user-days), next to the events under-counted per day.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.config import user_metric_names
from sizing.data import PairCounts
from sizing.estimate import Bootstrap, daily_arrays, rate_replicates

DAILY_COLUMNS = ["partition", "grouping", "slice_key", "warehouse_users", "missed_users", "user_capture",
                 "client", "warehouse", "under_count", "excluded", "reason"]
USER_COUNT_COLUMNS = ("warehouse_users", "missed_users", "warehouse_user_days", "missed_user_days",
                      "missed_users_per_day", "missed_users_per_day_low",
                      "missed_users_per_day_high")
SUMMARY_COLUMNS = ["grouping", "slice_key", "steady_days", "warehouse_user_days", "missed_user_days", "user_capture",
                   "missed_users_per_day", "missed_users_per_day_low", "missed_users_per_day_high",
                   "per_day", "per_day_low", "per_day_high"]


def read_user_days(counts: PairCounts, store) -> pd.DataFrame:
    """One row per monitored slice and day with stored user counts, beside the day's event counts and
    its exclusion (DAILY_COLUMNS); empty when the pair stores no users (no `user_column`)."""
    users_metric, missed_metric = user_metric_names(counts.settings.pair)
    points = store.points([users_metric, missed_metric], counts.start, counts.end,
                          groupings=list(counts.settings.groupings))
    if points.empty or counts.slices.empty:
        return pd.DataFrame(columns=DAILY_COLUMNS)
    points = points.assign(partition=pd.to_datetime(points.partition).dt.date)
    wide = (points.pivot_table(index=["slice_key", "partition"], columns="metric", values="value", aggfunc="first")
            .rename(columns={users_metric: "warehouse_users", missed_metric: "missed_users"}).reset_index())
    for col in ("warehouse_users", "missed_users"):
        if col not in wide:
            wide[col] = np.nan
    events = counts.slices[["slice_key", "grouping", "partition", "client", "warehouse", "excluded", "reason"]]
    out = wide.merge(events, on=["slice_key", "partition"], how="inner")
    out["missed_users"] = out.missed_users.fillna(0.0)
    out["user_capture"] = 1 - out.missed_users / out.warehouse_users.where(out.warehouse_users > 0)
    out["under_count"] = out.warehouse - out.client
    return out.sort_values(["partition", "grouping", "slice_key"]).reset_index(drop=True)[DAILY_COLUMNS]


def size_users(days: pd.DataFrame, counts: PairCounts, boot: Bootstrap) -> pd.DataFrame:
    """One row per monitored slice (SUMMARY_COLUMNS): its steady-state user figures (`*_user_days`: daily
    distinct users summed over the days) and, on the same days, the events under-counted per day, each
    per day with the bootstrap interval."""
    rows = []
    for (grouping, key), frame in days.groupby(["grouping", "slice_key"], sort=False):
        steady = frame[~frame.excluded.astype(bool)]
        seen = steady.warehouse_users.fillna(0.0)
        users = _per_day(steady.assign(client=seen - steady.missed_users, warehouse=seen), counts.days, boot)
        events = _per_day(steady, counts.days, boot)
        rows.append({"grouping": grouping, "slice_key": key, "steady_days": users["days"],
                     "warehouse_user_days": users["total"], "missed_user_days": users["lost"],
                     "user_capture": users["capture"], "missed_users_per_day": users["per_day"],
                     "missed_users_per_day_low": users["low"], "missed_users_per_day_high": users["high"],
                     "per_day": events["per_day"], "per_day_low": events["low"], "per_day_high": events["high"]})
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    order = out.grouping.map(lambda g: (0 if not g else len(g.split(",")), g))
    return (out.assign(_order=order).sort_values(["_order", "missed_user_days"], ascending=[True, False])
            .drop(columns="_order").reset_index(drop=True))


def _per_day(steady: pd.DataFrame, days: list, boot: Bootstrap) -> dict:
    """Loss per steady-state day of rows with `client` (kept) and `warehouse` (seen) per day, with the
    bootstrap interval of the loss rate times the seen total, over the same days."""
    kept, seen = daily_arrays(steady, days)
    total, n = float(seen.sum()), int((seen > 0).sum())
    lost = total - float(kept.sum())
    if total <= 0 or n == 0:
        nan = float("nan")
        return {"days": n, "total": total, "lost": lost, "capture": nan, "per_day": nan, "low": nan, "high": nan}
    lo, hi = boot.interval(rate_replicates(boot, kept, seen))
    return {"days": n, "total": total, "lost": lost, "capture": 1 - lost / total, "per_day": lost / n,
            "low": total * lo / n, "high": total * hi / n}


def user_frames(counts: PairCounts, store, boot: Bootstrap) -> dict[str, pd.DataFrame]:
    """The report's `users` (per slice) and `users_daily` (per slice and day) tables; none without users."""
    days = read_user_days(counts, store)
    if days.empty:
        return {}
    return {"users": size_users(days, counts, boot), "users_daily": days}


def users_headline(frames: dict[str, pd.DataFrame]) -> dict | None:
    """The total's row of the users table, or None when the pair stores no users."""
    users = frames.get("users")
    if users is None or users.empty:
        return None
    total = users[users.grouping == ""]
    return total.iloc[0].to_dict() if len(total) else None
