"""`localize`: which dimension-value combinations explain a deviation between real and predicted.

Pipeline: validate leaves (`leaves`) -> per-leaf noise model and abnormal split (`noise`) -> maximal
pure elements over all cuboids (`search`) -> drop elements that carry a negligible part of the
deviation, attach share and confidence, rank.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from rootcause.cuboids import CuboidIndex
from rootcause.leaves import load_leaves
from rootcause.model import RootCause
from rootcause.noise import classify_leaves
from rootcause.search import maximal_pure_elements

# New evidence an element must bring, in units of the squared leaf threshold: as much as two
# independent leaves just past the Bonferroni bound. One leaf past it happens by chance in about 5% of
# cubes (that is what the bound allows), two in the same element practically never.
MIN_EVIDENCE_LEAVES = 2.0


def localize(leaves: pd.DataFrame, dimensions: Sequence[str], *, real: str = "real",
             predict: str = "predict", max_causes: int = 5) -> list[RootCause]:
    """Root causes of the deviation of `real` from `predict`, largest share first; [] if none.

    `leaves` has one row per full combination of `dimensions`, with additive, non-negative values
    (counts, sums). For a ratio metric pass its numerator as `real` and denominator x baseline ratio
    as `predict` (see `rootcause.ratio.expected_numerator`).

    `share` is the element's absolute deviation (sum of real - predict over its leaves) over the
    deviation to be explained: the summed absolute deviation of the abnormal leaves and of the leaves
    of the causes (RiskLoc's explanatory power, Kalander 2022, is taken relative to the same
    abnormal part). Shares of non-overlapping causes add up to at most 1. `confidence` is the posterior mean (Jeffreys prior) of the share
    of the element's informative leaves that are abnormal in its direction.
    """
    if not isinstance(max_causes, (int, np.integer)) or max_causes < 1:
        raise ValueError(f"max_causes must be a positive integer, got {max_causes!r}")
    table = load_leaves(leaves, dimensions, real, predict)
    if len(table) == 0:
        return []
    states = classify_leaves(table.real, table.predict)
    abnormal = states.abnormal_low | states.abnormal_high
    if not abnormal.any():
        return []
    index = CuboidIndex(table, max_layer=len(table.dimensions))
    deviation = table.real - table.predict

    scored = []
    for candidate in maximal_pure_elements(index, states):
        mask = index.element_mask(candidate.cuboid, candidate.code)
        observed, expected = float(table.real[mask].sum()), float(table.predict[mask].sum())
        if np.sign(observed - expected) != candidate.direction:
            continue
        scored.append((candidate, mask, observed, expected))
    evidence = np.where(abnormal, states.z**2, 0.0)
    scored = _greedy_cover(scored, evidence, MIN_EVIDENCE_LEAVES * states.threshold**2)
    if not scored:
        return []
    explained = np.zeros(len(table), dtype=bool)
    for _, mask, _, _ in scored:
        explained |= mask
    # The deviation to explain: what the noise model cannot explain, plus all of the causes' slices.
    denominator = float(np.abs(deviation[abnormal | explained]).sum())
    causes = [
        RootCause(elements=index.element(c.cuboid, c.code), share=abs(obs - exp) / denominator,
                  confidence=(c.abnormal + 0.5) / (c.informative + 1.0), observed=obs, expected=exp)
        for c, _, obs, exp in scored
    ]
    causes.sort(key=lambda cause: (-cause.share, len(cause.elements), cause.label()))
    return causes[:max_causes]


def _greedy_cover(scored: list, evidence: np.ndarray, min_gain: float) -> list:
    """Keep elements, largest deviation first, while each adds at least `min_gain` of evidence
    (squared standardised errors of abnormal leaves) not already explained by the ones kept (greedy
    set cover, Chvatal 1979). Drops elements whose abnormal leaves all lie inside a larger cause, e.g.
    a sparse slice that only has data where the real cause is, and lone noise leaves."""
    covered = np.zeros(len(evidence), dtype=bool)
    kept = []
    for item in sorted(scored, key=lambda item: -abs(item[2] - item[3])):
        mask = item[1]
        if float(evidence[mask & ~covered].sum()) >= min_gain:
            kept.append(item)
            covered |= mask
    return kept
