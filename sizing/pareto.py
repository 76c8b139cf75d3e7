"""Which slices account for the lost activity: the project's localiser on the leaf cube, cut into
parts that do not double count.

The cube: per leaf (full dimension combination), client and warehouse counts summed over the pair's
steady-state days (the days the total is not excluded, so the parts add up to the headline total of
the same days). Every leaf loses some events, so a cube of client against warehouse counts is all
deviation and no baseline: the localiser's noise model, fitted robustly on the leaves' own errors,
would read a loss shared by every leaf as noise. It runs instead on the client count (real) against
what the typical leaf's capture predicts (its warehouse count x the warehouse-weighted median of
the leaves' captures), as `rootcause.localize_ratio` does for a ratio against its baseline, with
the forecast's variance share (leaf warehouse / table warehouse, delta method). The median, not the
pooled capture: with two platforms capturing 93% and 97%, the pooled rate lies between them and no
leaf is normal, so the robust noise fit takes the platforms' gap for noise; the typical leaf's rate
is a clean baseline the departing slices do not drag (the localiser's own table-wide factor is
taken the same way). It names the fewest slices whose capture departs from the typical one, the
worse ones and the better ones.

Parts: the named slices in the localiser's order, each taking its leaves that no earlier part took
(a slice and its child, or two overlapping slices, never count the same leaf twice), then the rest
of the table. Each part's under-count is all of its leaves' loss (the table-wide share included),
with the block-bootstrap interval of `sizing.estimate`; the localiser's share (the part of the
deviation it explains beyond the others) is reported beside it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from rootcause import localize
from rootcause.noise import weighted_median
from sizing.data import PairCounts
from sizing.estimate import Bootstrap, rate_replicates

MAX_PARTS = 8
REST = "rest of the table (no slice named)"


def steady_days(counts: PairCounts) -> set:
    """The days the total (the pair-wide slice) is steady state."""
    total = counts.slices[counts.slices.grouping == ""]
    return set(total[~total.excluded].partition)


def leaf_cube(counts: PairCounts) -> pd.DataFrame:
    """One row per leaf: its dimensions, client and warehouse summed over the steady-state days."""
    dims = list(counts.settings.dimensions)
    leaves = counts.leaves[counts.leaves.partition.isin(steady_days(counts))]
    if leaves.empty:
        return pd.DataFrame(columns=[*dims, "client", "warehouse"])
    return leaves.groupby(dims, as_index=False)[["client", "warehouse"]].sum()


def pareto(counts: PairCounts, boot: Bootstrap | None = None, max_parts: int = MAX_PARTS) -> pd.DataFrame:
    """The parts of the steady-state under-count, largest first, with a cumulative share."""
    boot = boot or Bootstrap.for_days(len(counts.days))
    dims = list(counts.settings.dimensions)
    cube = leaf_cube(counts)
    if cube.empty:
        return pd.DataFrame(columns=["part", "localiser_share", "leaves", "client", "warehouse", "capture",
                                     "typical_capture", "under_count", "under_count_low", "under_count_high",
                                     "share_of_loss", "cumulative_share"])
    causes = [c for c in localize(_against_typical(cube), dims, real="client", predict="__expected",
                                  max_causes=max_parts, forecast_share="__forecast_share")
              if not c.table_wide]
    taken = np.zeros(len(cube), dtype=bool)
    parts = []
    for cause in causes:
        inside = np.ones(len(cube), dtype=bool)
        for dim, value in cause.elements.items():
            inside &= cube[dim].astype(str).to_numpy() == str(value)
        mine = inside & ~taken
        if mine.any():
            parts.append((cause.label(), cause.share, mine))
            taken |= mine
    if (~taken).any():
        parts.append((REST, float("nan"), ~taken))
    rows = [_part(counts, cube, label, share, mask, boot) for label, share, mask in parts]
    out = pd.DataFrame(rows)
    out.insert(out.columns.get_loc("capture") + 1, "typical_capture", typical_capture(cube))
    out = out.sort_values("under_count", ascending=False).reset_index(drop=True)
    lost = out.under_count.sum()
    out["share_of_loss"] = out.under_count / lost if lost else np.nan
    out["cumulative_share"] = out.share_of_loss.cumsum()
    return out


def _against_typical(cube: pd.DataFrame) -> pd.DataFrame:
    """The cube with each leaf's client count expected at the typical leaf's capture, and the share of
    that forecast's variance in the observation's (`rootcause.ratio.forecast_share` with the whole
    table as the baseline)."""
    total = float(cube.warehouse.sum())
    typical = typical_capture(cube)
    return cube.assign(__expected=cube.warehouse * typical, __forecast_share=cube.warehouse / total)


def typical_capture(cube: pd.DataFrame) -> float:
    """The warehouse-weighted median of the leaves' captures."""
    has = cube[cube.warehouse > 0]
    return weighted_median((has.client / has.warehouse).to_numpy(), has.warehouse.to_numpy())


def _part(counts: PairCounts, cube: pd.DataFrame, label: str, share: float, mask: np.ndarray,
          boot: Bootstrap) -> dict:
    """A part's totals and interval, its leaves' daily counts resampled like every other figure."""
    dims = list(counts.settings.dimensions)
    chosen = cube.loc[mask, dims]
    days = steady_days(counts)
    rows = counts.leaves[counts.leaves.partition.isin(days)].merge(chosen, on=dims)
    pos = {d: i for i, d in enumerate(counts.days)}
    client, warehouse = np.zeros(len(pos)), np.zeros(len(pos))
    np.add.at(client, [pos[d] for d in rows.partition], rows.client.to_numpy())
    np.add.at(warehouse, [pos[d] for d in rows.partition], rows.warehouse.to_numpy())
    c, w = float(client.sum()), float(warehouse.sum())
    lo, hi = boot.interval(rate_replicates(boot, client, warehouse))
    return {"part": label, "localiser_share": share, "leaves": int(mask.sum()), "client": c, "warehouse": w,
            "capture": c / w if w else np.nan, "under_count": w - c, "under_count_low": w * lo,
            "under_count_high": w * hi}
