"""Before and after each app version's rollout: did the platform's capture change when it arrived?

The version dimension is the pair's `version_dimension` (config). Every monitored slice set holding it
(e.g. [platform, app_version]) splits each parent slice (the same set without the version: a platform,
or the total for [app_version]) into its versions; the parent's day is the sum of its versions' slices,
left out of the steady state when any of them is (an alert overlapping one version overlaps its parent).

Rollout day: the first day on which the version's share of its parent's warehouse events reaches
ROLLOUT_SHARE (1%), over every day with warehouse events (adoption is read from the warehouse side,
which client-side incidents do not touch). A version at or above that share on the parent's first day
of the period rolled out before the period: it has no "before". A version that never reaches it is
not listed.

Before and after: the parent's capture over its steady-state days in the WINDOW_DAYS days before the
rollout day and the WINDOW_DAYS days from it (clipped to the period). The change (after - before) has
a quasi-binomial interval (`sizing.dispersion`): the two windows are independent binomial draws
widened by the days' extra-binomial spread, phi pooled within the two windows, so
se = sqrt(phi (p_b (1 - p_b) / W_b + p_a (1 - p_a) / W_a)). The under-count per day it implies is
-change x the parent's warehouse events per steady-state day after (positive: more events lost a
day). The change is all that happened to the parent's capture between the windows: the new version's
own capture weighted by its share, and anything else that changed then (another rollout, a drift).
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from core.errors import MqError
from sizing.data import TOTAL, PairCounts
from sizing.dispersion import capture_se, pooled_dispersion

ROLLOUT_SHARE = 0.01     # a version has rolled out once it carries 1% of its parent's warehouse events
WINDOW_DAYS = 14         # days compared on each side of the rollout day

NO_BEFORE = "rolled out before the period: no before"
COLUMNS = ["grouping", "parent", "version", "rollout_day", "before_period", "note", "share_after", "before_days",
           "after_days", "capture_before", "capture_after", "version_capture_after", "change", "change_low",
           "change_high", "per_day", "per_day_low", "per_day_high"]


def version_groupings(counts: PairCounts) -> list[str]:
    """The monitored groupings that hold the version dimension ([] when none is configured); a
    configured dimension that no monitored grouping holds is an error naming it."""
    s = counts.settings
    if s.version_dimension is None:
        return []
    found = [g for g in s.groupings if s.version_dimension in g.split(",")]
    if not found:
        raise MqError(f"report sizing: pairs.{s.pair}.version_dimension: {s.version_dimension!r} is in no "
                      f"monitored slice set of the pair ({[g.split(',') for g in s.groupings if g]})")
    return found


def rollouts(counts: PairCounts, window_days: int = WINDOW_DAYS, share: float = ROLLOUT_SHARE) -> pd.DataFrame:
    """One row per (grouping, parent, version) that reached `share` of its parent in the period,
    in order of rollout day."""
    rows = []
    for grouping in version_groupings(counts):
        frame = counts.slices[counts.slices.grouping == grouping]
        for parent, versions in _by_parent(frame, counts.settings.version_dimension).items():
            rows += [dict(grouping=grouping, parent=parent, **r)
                     for r in _parent_rollouts(versions, window_days, share)]
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.DataFrame(rows)[COLUMNS]
    return out.sort_values(["grouping", "parent", "rollout_day", "version"]).reset_index(drop=True)


def _by_parent(frame: pd.DataFrame, version_dim: str) -> dict[str, pd.DataFrame]:
    """parent slice key -> its versions' rows (with a `version` column)."""
    parent = ["&".join(f"{k}={v}" for k, v in lab.items() if k != version_dim) or TOTAL for lab in frame.labels]
    version = [lab.get(version_dim, "") for lab in frame.labels]
    tagged = frame.assign(parent=parent, version=version)
    return {p: f for p, f in tagged.groupby("parent")}


def _parent_rollouts(versions: pd.DataFrame, window_days: int, share: float) -> list[dict]:
    """The rollouts of one parent's versions."""
    day = versions.groupby("partition").agg(client=("client", "sum"), warehouse=("warehouse", "sum"),
                                            excluded=("excluded", "any")).sort_index()
    by_version = versions.pivot_table(index="partition", columns="version", values="warehouse",
                                      aggfunc="sum").reindex(day.index).fillna(0.0)
    shares = by_version.div(day.warehouse.where(day.warehouse > 0), axis=0)
    first_day = day.index[day.warehouse > 0].min() if (day.warehouse > 0).any() else None
    out = []
    for version in by_version.columns:
        reached = shares.index[shares[version] >= share]
        if len(reached) == 0:
            continue
        rollout = reached[0]
        row = {"version": version, "rollout_day": rollout, "before_period": rollout == first_day}
        row["note"] = NO_BEFORE if row["before_period"] else ""
        row |= compare(day, by_version[version], versions[versions.version == version], rollout, window_days,
                       before=not row["before_period"])
        if not row["before_period"] and (row["before_days"] == 0 or row["after_days"] == 0):
            row["note"] = "no steady-state day in one of the windows"
        out.append(row)
    return out


def compare(day: pd.DataFrame, version_warehouse: pd.Series, version_rows: pd.DataFrame, rollout: dt.date,
            window_days: int, before: bool) -> dict:
    """The parent's steady-state capture in the windows before and from `rollout`, the change with its
    interval and the under-count per day it implies. `day`: the parent's client, warehouse, excluded per
    day; without a `before`, only the after window's figures."""
    steady = day[~day.excluded & (day.warehouse > 0)]
    span = dt.timedelta(days=window_days)
    after = steady[(steady.index >= rollout) & (steady.index < rollout + span)]
    prior = steady[(steady.index >= rollout - span) & (steady.index < rollout)] if before else steady.iloc[:0]
    mine = version_rows[version_rows.partition.isin(after.index) & ~version_rows.excluded]
    out = {"share_after": version_warehouse.reindex(after.index).sum() / after.warehouse.sum()
           if after.warehouse.sum() > 0 else np.nan,
           "before_days": len(prior), "after_days": len(after),
           "capture_before": _capture(prior), "capture_after": _capture(after),
           "version_capture_after": mine.client.sum() / mine.warehouse.sum() if mine.warehouse.sum() > 0 else np.nan}
    out |= dict.fromkeys(["change", "change_low", "change_high", "per_day", "per_day_low", "per_day_high"], np.nan)
    if len(prior) == 0 or len(after) == 0:
        return out
    both = pd.concat([prior.assign(window=0), after.assign(window=1)])
    spread = pooled_dispersion(both.client.to_numpy(), both.warehouse.to_numpy(), both.window.to_numpy())
    se = np.hypot(capture_se(prior.client.sum(), prior.warehouse.sum(), spread),
                  capture_se(after.client.sum(), after.warehouse.sum(), spread))
    half = spread.quantile() * se
    change = out["capture_after"] - out["capture_before"]
    per_day = after.warehouse.sum() / len(after)
    out.update(change=change, change_low=change - half, change_high=change + half, per_day=-change * per_day,
               per_day_low=-(change + half) * per_day, per_day_high=-(change - half) * per_day)
    return out


def _capture(frame: pd.DataFrame) -> float:
    w = frame.warehouse.sum()
    return float(frame.client.sum() / w) if w > 0 else float("nan")
