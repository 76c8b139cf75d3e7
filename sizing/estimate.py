"""Steady-state capture and under-count per slice, with a block-bootstrap interval.

Per slice, over its steady-state days (`sizing.data`): capture = sum(client) / sum(warehouse) (a ratio
estimator, so a day's weight is its volume) and under-count = sum(warehouse) - sum(client), in events
and as a share of the reported metric (the warehouse count).

The interval is a circular block bootstrap over days (Politis & Romano 1992, "A circular block-
resampling procedure for stationary data"; Kunsch 1989 for the moving-block original): the calendar
days of the period are resampled in blocks of `BLOCK_DAYS` consecutive days, wrapping at the end,
so the day-to-day correlation of the capture rate (a weekday pattern, a slow wander) stays inside
each block instead of being averaged away as independent days would. Each replicate recomputes the
under-count rate on the resampled steady-state days, and the interval is the percentile interval of
that rate times the period's observed warehouse count: it answers "how many events does this slice
lose, at its steady-state rate, on the volume it reported", conditioning on the reported volume
(whose weekly seasonality is not uncertainty about the loss). Every slice uses the same resampled
days, so differences between slices (the what-if sizing) are resampled jointly.

With a few weeks of days there are only a few blocks, and the bootstrap's spread is itself noisy: on
six weeks it often comes out at half the binomial spread. A client that logs each warehouse event
independently with probability p cannot be less variable than that binomial thinning, so the
binomial standard error sqrt(p (1 - p) / W) is a floor: replicates whose spread falls below it are
widened about the estimate to reach it (day-to-day correlation and wander can only add to it).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sizing.data import PairCounts

BLOCK_DAYS = 7            # one week: a block holds a whole weekday cycle
REPLICATES = 2000
CONFIDENCE = 0.95
SEED = 20261002           # fixed: the same store gives the same report


@dataclass(frozen=True)
class Bootstrap:
    """`index`: (replicates, days) resampled day positions of the period's calendar."""
    index: np.ndarray
    confidence: float = CONFIDENCE

    @classmethod
    def for_days(cls, n_days: int, replicates: int = REPLICATES, block: int = BLOCK_DAYS,
                 seed: int = SEED) -> "Bootstrap":
        """Circular blocks of `block` days (fewer days than a block: blocks of the whole period)."""
        rng = np.random.default_rng(seed)
        block = max(1, min(block, n_days))
        n_blocks = -(-n_days // block)
        starts = rng.integers(0, n_days, size=(replicates, n_blocks))
        index = (starts[:, :, None] + np.arange(block)[None, None, :]) % n_days
        return cls(index.reshape(replicates, -1)[:, :n_days])

    def sums(self, daily: np.ndarray) -> np.ndarray:
        """(replicates,) sum of a per-day array (one value per calendar day) over each replicate's days."""
        return daily[self.index].sum(axis=1)

    def interval(self, replicates: np.ndarray) -> tuple[float, float]:
        finite = replicates[np.isfinite(replicates)]
        if len(finite) == 0:
            return float("nan"), float("nan")
        tail = (1 - self.confidence) / 2 * 100
        lo, hi = np.percentile(finite, [tail, 100 - tail])
        return float(lo), float(hi)


def daily_arrays(frame: pd.DataFrame, days: list) -> tuple[np.ndarray, np.ndarray]:
    """(client, warehouse) per calendar day of one slice's steady-state rows, 0 on other days."""
    pos = {d: i for i, d in enumerate(days)}
    client, warehouse = np.zeros(len(days)), np.zeros(len(days))
    for r in frame.itertuples():
        client[pos[r.partition]] += r.client
        warehouse[pos[r.partition]] += r.warehouse
    return client, warehouse


def rate_replicates(boot: Bootstrap, client: np.ndarray, warehouse: np.ndarray) -> np.ndarray:
    """Under-count rate (1 - capture) of every replicate; NaN where a replicate drew no volume."""
    return 1.0 - capture_replicates(boot, client, warehouse)


def capture_replicates(boot: Bootstrap, client: np.ndarray, warehouse: np.ndarray) -> np.ndarray:
    """Capture of every replicate, spread at least as wide as binomial thinning (see the module doc)."""
    w = boot.sums(warehouse)
    with np.errstate(invalid="ignore", divide="ignore"):
        rep = np.where(w > 0, boot.sums(client) / w, np.nan)
    total = float(warehouse.sum())
    if total <= 0 or not np.isfinite(rep).any():
        return rep
    p = min(max(float(client.sum()) / total, 0.0), 1.0)
    floor, spread = np.sqrt(p * (1 - p) / total), float(np.nanstd(rep))
    if spread >= floor or spread == 0:
        return rep
    return p + (rep - p) * (floor / spread)


def size_slices(counts: PairCounts, boot: Bootstrap | None = None) -> pd.DataFrame:
    """One row per monitored slice: its steady-state days, counts, capture, under-count (events, per
    day, % of the reported metric) with the interval, and the incident losses kept apart."""
    boot = boot or Bootstrap.for_days(len(counts.days))
    rows = []
    for (grouping, key), frame in counts.slices.groupby(["grouping", "slice_key"], sort=False):
        rows.append({"grouping": grouping, "slice_key": key, **summarise(frame, counts.days, boot)})
    out = pd.DataFrame(rows)
    out = out.sort_values(["grouping", "under_count"], ascending=[True, False], key=_grouping_order)
    return out.reset_index(drop=True)


def summarise(frame: pd.DataFrame, days: list, boot: Bootstrap) -> dict:
    """The steady-state figures of one slice (or any set of rows of one slice per day)."""
    steady, incident = frame[~frame.excluded], frame[frame.excluded]
    client, warehouse = daily_arrays(steady, days)
    c, w = float(client.sum()), float(warehouse.sum())
    n = int((warehouse > 0).sum())
    lo, hi = boot.interval(rate_replicates(boot, client, warehouse)) if w > 0 else (float("nan"),) * 2
    rate = 1 - c / w if w > 0 else float("nan")
    return {"steady_days": n, "excluded_days": int(incident.partition.nunique()),
            "client": c, "warehouse": w, "capture": c / w if w > 0 else float("nan"),
            "under_count": w - c, "under_count_low": w * lo, "under_count_high": w * hi,
            "per_day": (w - c) / n if n else float("nan"),
            "pct_of_metric": 100 * rate, "pct_low": 100 * lo, "pct_high": 100 * hi,
            "incident_under_count": float((incident.warehouse - incident.client).sum())}


def incident_losses(counts: PairCounts) -> pd.DataFrame:
    """The excluded slice-days, one row each: what was lost that day and why the day was left out
    (sized here, not in the steady state)."""
    ex = counts.slices[counts.slices.excluded]
    out = ex.assign(under_count=ex.warehouse - ex.client,
                    capture=(ex.client / ex.warehouse.where(ex.warehouse > 0)))
    return out[["partition", "grouping", "slice_key", "client", "warehouse", "capture", "under_count", "reason"]] \
        .sort_values(["partition", "grouping", "slice_key"]).reset_index(drop=True)


def _grouping_order(column: pd.Series) -> pd.Series:
    """Sort key: the total first, then groupings by their number of dimensions (the rest as given)."""
    if column.name == "grouping":
        return column.map(lambda g: (0 if not g else len(g.split(",")), g))
    return column
