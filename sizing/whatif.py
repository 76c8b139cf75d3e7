"""The under-count by week, and what bringing a slice's capture to a target would recover.

Trend: per monitored slice and ISO week (Monday first), the steady-state days' counts, capture and
under-count with a 95% interval (quasi-binomial, `sizing.dispersion`); a week with no steady-state day
has no row.

What-if: a slice whose capture rose to a target would have logged `warehouse x (target - capture)`
more events on its steady-state days. The target is a number (`--target 0.99`) or, by default, the
slice's best comparable sibling: the slice of the same monitored grouping with the same values on
every dimension but the last, and the highest capture (for [platform, app_version]: the best app
version of the same platform; for [platform]: the best platform). A slice that is its own best
sibling recovers nothing. Slices of one grouping never overlap, so their recoveries add up; slices of
different groupings share events and do not.

The best of several siblings is the best partly by chance (the winner's curse): eight countries
that capture alike still have a highest one, and every other country would seem to "recover" the
gap to it. So sibling captures are compared after empirical-Bayes shrinkage towards their pooled
capture (Efron & Morris 1975, "Data analysis using Stein's estimator and its generalizations"): the
spread of true captures between siblings is the observed spread less the sampling variance
(method of moments, as DerSimonian & Laird 1986 do for between-study variance), and each capture
keeps the share tau^2 / (tau^2 + se^2) of its departure from the pool. The spread is taken as zero
unless Cochran's heterogeneity test (Q = sum of (capture - pool)^2 / se^2 against chi-square with
k - 1 degrees of freedom, Cochran 1954) says at the 5% level that the siblings differ at all: the
moment estimate alone comes out positive for about half of all groups of alike siblings. Siblings
that differ no more than noise all shrink to the pool and recover nothing; platforms 4 points apart
keep their gap.
`se` is each capture's block-bootstrap standard error (`sizing.estimate.capture_replicates`); the interval
resamples the slice and its sibling on the same days, so it holds the uncertainty of both rates.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from scipy.stats import chi2

from sizing.data import PairCounts
from sizing.dispersion import capture_interval, pooled_dispersion
from sizing.estimate import Bootstrap, capture_replicates, daily_arrays


HETEROGENEITY_LEVEL = 0.05   # Cochran's Q: siblings are compared only when they differ at this level


WEEKLY_COLUMNS = ["grouping", "slice_key", "week", "steady_days", "client", "warehouse", "capture", "capture_low",
                  "capture_high", "under_count", "under_count_low", "under_count_high", "per_day", "pct_of_metric"]


def weekly_trend(counts: PairCounts) -> pd.DataFrame:
    """Per slice and week: the steady-state counts, capture and under-count, with a quasi-binomial
    interval (`sizing.dispersion`) whose dispersion is pooled over the slice's weeks: a week of seven
    days is one block of the period's bootstrap, so the bootstrap cannot size it."""
    steady = counts.slices[~counts.slices.excluded]
    if steady.empty:
        return pd.DataFrame(columns=WEEKLY_COLUMNS)
    weeks = steady.assign(week=[d - dt.timedelta(days=d.weekday()) for d in steady.partition])
    out = weeks.groupby(["grouping", "slice_key", "week"], as_index=False).agg(
        steady_days=("partition", "nunique"), client=("client", "sum"), warehouse=("warehouse", "sum"))
    out["capture"] = out.client / out.warehouse.where(out.warehouse > 0)
    out["under_count"] = out.warehouse - out.client
    spread = {key: pooled_dispersion(f.client.to_numpy(), f.warehouse.to_numpy(), f.week.to_numpy())
              for key, f in weeks.groupby("slice_key")}
    bounds = [capture_interval(r.client, r.warehouse, spread[r.slice_key]) for r in out.itertuples()]
    out["capture_low"], out["capture_high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    out["under_count_low"] = out.warehouse * (1 - out.capture_high)
    out["under_count_high"] = out.warehouse * (1 - out.capture_low)
    out["per_day"] = out.under_count / out.steady_days
    out["pct_of_metric"] = 100 * (1 - out.capture)
    return out.sort_values(["grouping", "slice_key", "week"]).reset_index(drop=True)[WEEKLY_COLUMNS]


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
        replicates = {k: capture_replicates(boot, c, w) for k, (c, w) in arrays.items() if w.sum() > 0}
        captures = {k: arrays[k][0].sum() / arrays[k][1].sum() for k in replicates}
        family = siblings(labels, grouping)
        shrunk = {} if target is not None else shrink_to_siblings(arrays, captures, replicates, family)
        for key, sibs in family.items():
            if key not in captures:
                continue
            row = _recovery(boot, arrays, captures, replicates, shrunk, key, sibs, target)
            if row is not None:
                days = int((arrays[key][1] > 0).sum())
                row.update(grouping=grouping, slice_key=key, steady_days=days)
                row["per_day"] = row["recovered"] / days
                row["per_day_low"], row["per_day_high"] = row["recovered_low"] / days, row["recovered_high"] / days
                row["pct_of_metric"] = 100 * row["per_day"] / total_per_day if total_per_day else np.nan
                rows.append(row)
    columns = ["grouping", "slice_key", "capture", "compared_capture", "target", "target_from", "steady_days",
               "recovered",
               "recovered_low", "recovered_high", "per_day", "per_day_low", "per_day_high", "pct_of_metric"]
    if not rows:
        return pd.DataFrame(columns=columns)
    out = pd.DataFrame(rows)[columns].sort_values("per_day", ascending=False).reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return out


def shrink_to_siblings(arrays: dict, captures: dict, replicates: dict,
                       family: dict[str, list[str]]) -> dict[str, tuple[float, float]]:
    """slice_key -> (pooled capture of its sibling group, the share of its departure it keeps)."""
    out = {}
    done: set = set()
    for key, sibs in family.items():
        group = sorted({key, *sibs} & set(captures))
        if key in done or len(group) < 2:
            continue
        done |= set(group)
        pool = sum(arrays[k][0].sum() for k in group) / sum(arrays[k][1].sum() for k in group)
        values = np.array([captures[k] for k in group])
        variances = np.array([np.nanvar(replicates[k]) for k in group])
        q = float((((values - pool) ** 2) / np.maximum(variances, 1e-18)).sum())
        differ = chi2.sf(q, len(group) - 1) < HETEROGENEITY_LEVEL
        tau2 = max(0.0, float(np.var(values, ddof=1) - variances.mean())) if differ else 0.0
        for k, v in zip(group, variances):
            out[k] = (pool, tau2 / (tau2 + v) if tau2 + v > 0 else 0.0)
    return out


def _recovery(boot: Bootstrap, arrays: dict, captures: dict, replicates: dict, shrunk: dict, key: str,
              sibs: list[str], target: float | None) -> dict | None:
    """Recovered events (and interval) of bringing `key` to the target; None when it is already there."""
    warehouse = arrays[key][1]
    if target is not None:
        capture, replicate = captures[key], replicates[key]
        goal, source, goal_b = float(target), "given", np.full(len(replicate), float(target))
    else:
        if key not in shrunk:
            return None
        def level(k, values):
            pool, keep = shrunk[k]
            return pool + keep * (values - pool)
        capture, replicate = level(key, captures[key]), level(key, replicates[key])
        best = max((s for s in sibs if s in shrunk), key=lambda s: level(s, captures[s]), default=None)
        if best is None:
            return None
        goal, source, goal_b = level(best, captures[best]), best, level(best, replicates[best])
    if goal - capture <= 1e-12:
        return None
    w = float(warehouse.sum())
    lo, hi = boot.interval(np.clip(goal_b - replicate, 0, None))
    return {"capture": captures[key], "compared_capture": capture, "target": goal, "target_from": source,
            "recovered": w * (goal - capture), "recovered_low": w * lo, "recovered_high": w * hi}
