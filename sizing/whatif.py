"""The under-count by week, and what bringing a slice's capture to a target would recover.

Trend: per monitored slice and ISO week (Monday first), the steady-state days' counts, capture and
under-count; a week with no steady-state day has no row.

What-if: a slice whose capture rose to a target would have logged `warehouse x (target - capture)`
more events on its steady-state days. The target is a number (`--target 0.99`) or, by default, the
slice's best comparable sibling: the slice of the same monitored grouping with the same values on
every dimension but the last, and the highest capture (for [platform, app_version]: the best app
version of the same platform; for [platform]: the best platform). A slice that is its own best
sibling recovers nothing. The interval resamples the slice and its sibling on the same days
(`sizing.estimate.Bootstrap`), so it holds the uncertainty of both rates. Slices of one grouping
never overlap, so their recoveries add up; slices of different groupings share events and do not.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from sizing.data import PairCounts
from sizing.estimate import Bootstrap, daily_arrays


def weekly_trend(counts: PairCounts) -> pd.DataFrame:
    steady = counts.slices[~counts.slices.excluded]
    if steady.empty:
        return pd.DataFrame(columns=["grouping", "slice_key", "week", "steady_days", "client", "warehouse",
                                     "capture", "under_count", "per_day", "pct_of_metric"])
    weeks = steady.assign(week=[d - dt.timedelta(days=d.weekday()) for d in steady.partition])
    out = weeks.groupby(["grouping", "slice_key", "week"], as_index=False).agg(
        steady_days=("partition", "nunique"), client=("client", "sum"), warehouse=("warehouse", "sum"))
    out["capture"] = out.client / out.warehouse.where(out.warehouse > 0)
    out["under_count"] = out.warehouse - out.client
    out["per_day"] = out.under_count / out.steady_days
    out["pct_of_metric"] = 100 * (1 - out.capture)
    return out.sort_values(["grouping", "slice_key", "week"]).reset_index(drop=True)


def siblings(labels: dict[str, dict], grouping: str) -> dict[str, list[str]]:
    """slice_key -> the other slices of `grouping` with the same values on all but its last dimension."""
    dims = grouping.split(",") if grouping else []
    if not dims:
        return {}
    parent = {k: tuple(lab.get(d) for d in dims[:-1]) for k, lab in labels.items()}
    return {k: sorted(o for o in labels if o != k and parent[o] == parent[k]) for k in labels}


def what_if(counts: PairCounts, target: float | None = None, boot: Bootstrap | None = None) -> pd.DataFrame:
    """One row per monitored slice below its target, most recovered events per day first."""
    boot = boot or Bootstrap.for_days(len(counts.days))
    steady = counts.slices[~counts.slices.excluded]
    total = steady[steady.grouping == ""]
    total_per_day = total.warehouse.sum() / max(total.partition.nunique(), 1)
    rows = []
    for grouping, group in steady[steady.grouping != ""].groupby("grouping"):
        arrays = {k: daily_arrays(f, counts.days) for k, f in group.groupby("slice_key")}
        labels = dict(zip(group.slice_key, group.labels))
        captures = {k: c.sum() / w.sum() for k, (c, w) in arrays.items() if w.sum() > 0}
        for key, sibs in siblings(labels, grouping).items():
            if key not in captures:
                continue
            row = _recovery(boot, arrays, captures, key, sibs, target)
            if row is not None:
                days = int((arrays[key][1] > 0).sum())
                row.update(grouping=grouping, slice_key=key, steady_days=days)
                row["per_day"] = row["recovered"] / days
                row["per_day_low"], row["per_day_high"] = row["recovered_low"] / days, row["recovered_high"] / days
                row["pct_of_metric"] = 100 * row["per_day"] / total_per_day if total_per_day else np.nan
                rows.append(row)
    columns = ["grouping", "slice_key", "capture", "target", "target_from", "steady_days", "recovered",
               "recovered_low", "recovered_high", "per_day", "per_day_low", "per_day_high", "pct_of_metric"]
    if not rows:
        return pd.DataFrame(columns=columns)
    out = pd.DataFrame(rows)[columns].sort_values("per_day", ascending=False).reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return out


def _recovery(boot: Bootstrap, arrays: dict, captures: dict, key: str, sibs: list[str],
              target: float | None) -> dict | None:
    """Recovered events (and interval) of bringing `key` to the target; None when it is already there."""
    client, warehouse = arrays[key]
    capture = captures[key]
    replicate = boot.sums(client) / np.where(boot.sums(warehouse) > 0, boot.sums(warehouse), np.nan)
    if target is not None:
        goal, source, goal_b = float(target), "given", np.full(len(replicate), float(target))
    else:
        best = max((s for s in sibs if s in captures), key=lambda s: captures[s], default=None)
        if best is None or captures[best] <= capture:
            return None
        sc, sw = arrays[best]
        goal, source = captures[best], best
        goal_b = boot.sums(sc) / np.where(boot.sums(sw) > 0, boot.sums(sw), np.nan)
    if goal <= capture:
        return None
    w = float(warehouse.sum())
    lo, hi = boot.interval(np.clip(goal_b - replicate, 0, None))
    return {"capture": capture, "target": goal, "target_from": source, "recovered": w * (goal - capture),
            "recovered_low": w * lo, "recovered_high": w * hi}
