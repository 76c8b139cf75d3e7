"""`localize`: which dimension-value combinations explain a deviation between real and predicted.

Pipeline: validate leaves (`leaves`) -> per-leaf noise model and abnormal split (`noise`) -> two
searches over all cuboids: causes seen in aggregate, by a stepwise robust score test (`stepwise`),
and causes seen leaf by leaf, as maximal pure elements (`search`) -> one greedy cover over both ->
share, confidence, rank.

The two searches complement each other. The aggregate one finds a 10-20% loss that no single leaf
shows, and names the failing element whole when only its larger leaves are abnormal. The leaf-level
one finds failures whose leaves are clearly abnormal but too few for the aggregate test, which has
to pay a Bonferroni bound over every element of the cube.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from rootcause.cuboids import Cuboid, CuboidIndex
from rootcause.leaves import load_leaves
from rootcause.model import RootCause
from rootcause.noise import LeafStates, classify_leaves
from rootcause.search import leaf_votes, maximal_pure_elements, purity_votes
from rootcause.stepwise import ScoreTest, stepwise_causes

# New evidence an element must bring, in units of the squared leaf threshold: as much as two
# independent leaves just past the Bonferroni bound. One leaf past it happens by chance in about 5% of
# cubes (that is what the bound allows), two in the same element practically never.
MIN_EVIDENCE_LEAVES = 2.0
# A cause seen in aggregate must carry this share of the deviation of those found before it: RiskLoc's
# explanatory-power threshold (Kalander 2022, `pep_threshold` = 0.02). Without it a real but
# immaterial drift of a tiny slice would be listed next to the incident.
MIN_AGGREGATE_SHARE = 0.02
# Upper bound on stepwise steps; the search stops earlier when no element beats the Bonferroni bound.
# Independent of `max_causes`, so asking for fewer causes truncates the same ranking.
MAX_STEPWISE_STEPS = 20



@dataclass(frozen=True, eq=False)
class Finding:
    cuboid: Cuboid
    code: int
    mask: np.ndarray        # its leaves
    confidence: float
    in_aggregate: bool      # found by the stepwise score test, not leaf by leaf


def localize(leaves: pd.DataFrame, dimensions: Sequence[str], *, real: str = "real",
             predict: str = "predict", max_causes: int = 5) -> list[RootCause]:
    """Root causes of the deviation of `real` from `predict`, largest share first; [] if none.

    `leaves` has one row per full combination of `dimensions`, with additive, non-negative values
    (counts, sums). For a ratio metric pass its numerator as `real` and denominator x baseline ratio
    as `predict` (or call `rootcause.localize_ratio`).

    `share` is the cause's absolute deviation (sum of real - predict over its leaves) over the
    deviation to explain: the causes' deviations plus those of abnormal leaves outside every cause
    (explanatory power relative to the abnormal part, as in RiskLoc, Kalander 2022). Shares of
    non-overlapping causes add up to at most 1. `confidence` is, for a cause seen leaf by leaf, the
    share of its informative leaves abnormal in its direction (weighted as in `search`, shrunk by one
    pseudo-leaf), and for a cause seen in aggregate, 1 - its Bonferroni-adjusted p-value.
    """
    if not isinstance(max_causes, (int, np.integer)) or isinstance(max_causes, bool) or max_causes < 1:
        raise ValueError(f"max_causes must be a positive integer, got {max_causes!r}")
    table = load_leaves(leaves, dimensions, real, predict)
    if len(table) == 0:
        return []
    states = classify_leaves(table.real, table.predict)
    abnormal = states.abnormal_low | states.abnormal_high
    index = CuboidIndex(table, max_layer=len(table.dimensions))
    test = ScoreTest(index, table.real, table.predict, states.scale)
    deviation = table.real - table.predict

    in_aggregate = _aggregate_causes(index, test, deviation)
    seen = {(f.cuboid, f.code) for f in in_aggregate}
    leaf_level = [f for f in (_leaf_level_causes(index, states) if abnormal.any() else [])
                  if (f.cuboid, f.code) not in seen]
    found = _cover(in_aggregate + leaf_level, deviation, np.where(abnormal, states.z**2, 0.0),
                   MIN_EVIDENCE_LEAVES * states.threshold**2)
    if not found:
        return []

    explained = np.zeros(len(table), dtype=bool)
    for finding in found:
        explained |= finding.mask
    cause_deviations = [abs(float(deviation[f.mask].sum())) for f in found]
    denominator = sum(cause_deviations) + float(np.abs(deviation[abnormal & ~explained]).sum())
    causes = [
        RootCause(elements=index.element(f.cuboid, f.code), share=cause_deviation / denominator,
                  confidence=float(f.confidence), observed=float(table.real[f.mask].sum()),
                  expected=float(table.predict[f.mask].sum()))
        for f, cause_deviation in zip(found, cause_deviations)
    ]
    causes.sort(key=lambda cause: (-cause.share, len(cause.elements), cause.label()))
    return causes[:max_causes]


def _aggregate_causes(index: CuboidIndex, test: ScoreTest, deviation: np.ndarray) -> list[Finding]:
    """Stepwise selection over all leaves, minus the immaterial (MIN_AGGREGATE_SHARE)."""
    found: list[Finding] = []
    explained = 0.0
    everything = np.ones(len(deviation), dtype=bool)
    for step in stepwise_causes(test, eligible=everything, max_steps=MAX_STEPWISE_STEPS):
        mask = index.element_mask(step.cuboid, step.code)
        step_deviation = abs(float(deviation[mask].sum()))
        if step_deviation < MIN_AGGREGATE_SHARE * (explained + step_deviation):
            continue
        explained += step_deviation
        found.append(Finding(step.cuboid, step.code, mask, 1.0 - step.p_value, in_aggregate=True))
    return found


def _leaf_level_causes(index: CuboidIndex, states: LeafStates) -> list[Finding]:
    """Maximal pure elements kept by greedy cover (see `_cover`)."""
    table = index.leaves
    votes = leaf_votes(states, table.real, table.predict)
    found: list[Finding] = []
    for candidate in maximal_pure_elements(index, states):
        mask = index.element_mask(candidate.cuboid, candidate.code)
        deviation = float(table.real[mask].sum() - table.predict[mask].sum())
        if np.sign(deviation) == candidate.direction:
            hits, total = purity_votes(states, votes, candidate.direction, mask)
            found.append(Finding(candidate.cuboid, candidate.code, mask, (hits + 0.5) / (total + 1.0),
                                 in_aggregate=False))
    abnormal = states.abnormal_low | states.abnormal_high
    return _cover(found, table.real - table.predict, np.where(abnormal, states.z**2, 0.0),
                  MIN_EVIDENCE_LEAVES * states.threshold**2)


def _cover(found: list[Finding], deviation: np.ndarray, evidence: np.ndarray, min_gain: float) -> list[Finding]:
    """Greedy set cover (Chvatal 1979): elements by absolute deviation, largest first, each kept only
    if it adds at least `min_gain` of evidence (squared standardised errors of abnormal leaves) not
    already covered by those kept; causes found in aggregate passed their own test and are kept.
    This drops elements whose abnormal leaves lie inside a larger cause, e.g. a sparse slice with
    data only where the real cause is, and lone noise leaves."""
    covered = np.zeros(len(deviation), dtype=bool)
    kept: list[Finding] = []
    for finding in sorted(found, key=lambda f: -abs(float(deviation[f.mask].sum()))):
        if finding.in_aggregate or float(evidence[finding.mask & ~covered].sum()) >= min_gain:
            kept.append(finding)
            covered |= finding.mask
    return kept
