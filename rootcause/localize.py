"""`localize`: which dimension-value combinations explain a deviation between real and predicted.

Pipeline: validate leaves (`leaves`) -> per-leaf noise model and abnormal split (`noise`) -> two
searches over all cuboids: causes seen in aggregate, by a stepwise robust score test (`stepwise`),
and causes seen leaf by leaf, as maximal pure elements (`search`) -> one greedy cover over both ->
backward elimination to the significant few (`parsimony.prune`) -> kept elements that lie inside one
found element replaced by it where that describes the leaves more briefly (`_merge_into_parents`) ->
share, confidence, rank.

The two searches complement each other. The aggregate one finds a 10-20% loss that no single leaf
shows, and names the failing element whole when only its larger leaves are abnormal. The leaf-level
one finds failures whose leaves are clearly abnormal but too few for the aggregate test, which has
to pay a Bonferroni bound over every element of the cube.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from rootcause.cuboids import Cuboid, CuboidIndex
from rootcause.leaves import load_leaves
from rootcause.model import RootCause
from rootcause.noise import LeafStates, classify_leaves, weighted_median
from rootcause.parsimony import description_length, fitted_values, leaf_misfit, prune
from rootcause.search import leaf_votes, maximal_pure_elements, purity_votes
from rootcause.stepwise import ScoreTest, stepwise_causes

# New evidence an element must bring, in units of the squared leaf threshold: as much as two
# independent leaves just past the Bonferroni bound. One leaf past it happens by chance in about 5% of
# cubes (that is what the bound allows), two in the same element practically never.
MIN_EVIDENCE_LEAVES = 2.0
# Upper bound on stepwise steps; the search stops earlier when no element beats the Bonferroni bound.
# Independent of `max_causes`, so asking for fewer causes truncates the same ranking.
MAX_STEPWISE_STEPS = 20



@dataclass(frozen=True, eq=False)
class Finding:
    cuboid: Cuboid
    code: int
    leaves: np.ndarray      # its leaves, ascending indices (`CuboidIndex.element_leaves`): sums over
                            # them are the sums over its mask, at the cost of its own size
    confidence: float
    in_aggregate: bool      # found by the stepwise score test, not leaf by leaf


def localize(leaves: pd.DataFrame, dimensions: Sequence[str], *, real: str = "real",
             predict: str = "predict", max_causes: int = 5, forecast_share: str | None = None) -> list[RootCause]:
    """Root causes of the deviation of `real` from `predict`, largest share first; [] if none.

    `leaves` has one row per full combination of `dimensions`, with additive, non-negative values
    (counts, sums). For a ratio metric pass its numerator as `real` and denominator x baseline ratio
    as `predict` (or call `rootcause.localize_ratio`).

    The result is the smallest set of elements that explains the deviation (`parsimony`); when every
    leaf moved by about the same factor it is one cause with no elements, "all slices (table-wide)"
    (`RootCause.table_wide`), followed by any element that moved beyond the table's factor.

    `share` is the deviation a cause explains on its own (sum of real - predict over its leaves, less
    what other causes explain) over the deviation to explain: the causes' plus that of abnormal
    leaves outside every cause (explanatory power relative to the abnormal part, as in RiskLoc,
    Kalander 2022). Shares add up to at most 1; each cause's own deviation is significant
    (`parsimony.prune`).
    `confidence` is, for a cause seen leaf by leaf, the share of its informative leaves abnormal in
    its direction (weighted as in `search`, shrunk by one pseudo-leaf), and for a cause seen in
    aggregate, 1 - its Bonferroni-adjusted p-value.

    `forecast_share` names a column holding, per leaf, the variance of the forecast's error as a
    share of the observation's: for a ratio's expected numerator, today's denominator over the
    baseline's (`rootcause.ratio.forecast_share`). Given, leaves are judged against their forecast
    and the aggregate test weighs them for a proportional change (`noise.precise_noise_scale`,
    `stepwise.ScoreTest`); without it the forecast is taken to be as uncertain as the observation.
    """
    if not isinstance(max_causes, (int, np.integer)) or isinstance(max_causes, bool) or max_causes < 1:
        raise ValueError(f"max_causes must be a positive integer, got {max_causes!r}")
    table = load_leaves(leaves, dimensions, real, predict, forecast_share)
    if len(table) == 0:
        return []
    index = CuboidIndex(table, max_layer=len(table.dimensions))
    chosen = _explain(index, table.real, table.predict, table.forecast_share)
    wide = table_wide(index, table.real, table.predict, chosen, table.forecast_share)
    if wide is not None:
        chosen = wide
    causes = [
        RootCause(elements={} if f.cuboid == () else index.element(f.cuboid, f.code),
                  share=unique / chosen.total, confidence=float(f.confidence),
                  observed=float(table.real[f.leaves].sum()), expected=float(table.predict[f.leaves].sum()))
        for f, unique in zip(chosen.found, chosen.unique)
    ]
    causes.sort(key=lambda cause: (-cause.share, len(cause.elements), cause.label()))
    return causes[:max_causes]


# A message names a cause only when it carries at least this share of the deviation: the localiser
# keeps every significant element (`parsimony.prune`), and a second cause of a few events beside a
# table-wide move is real but changes no decision of the reader (the share cut the localiser itself
# used before it judged significance alone; chosen on Squeeze B0 and one synthetic seed).
MATERIAL_SHARE = 0.005


def material(causes: Sequence[RootCause], min_share: float = MATERIAL_SHARE) -> list[RootCause]:
    """The causes a message names: those carrying at least `min_share` of the deviation (the main
    cause always)."""
    return [c for i, c in enumerate(causes) if i == 0 or c.share >= min_share]


def table_wide(index: CuboidIndex, real: np.ndarray, predict: np.ndarray,
               local: Explanation, forecast_share: np.ndarray | None = None) -> Explanation | None:
    """The explanation "all slices moved by one factor, and these elements beyond it", when it
    needs fewer elements than `local` (None otherwise, or when the table as a whole did not move).

    Description length decides (`parsimony.description_length`: misfit plus a penalty per element),
    the table-wide factor counting as one element, as in RiskLoc's generalised ripple effect
    (Kalander 2022, which rescales the forecast by the table's factor). A dimension value is named
    only when it explains the deviation better than the whole table does.
    """
    expected_total = float(predict.sum())
    deviation_total = float(real.sum()) - expected_total
    if expected_total <= 0 or deviation_total == 0:
        return None
    z_total = deviation_total / float(np.sqrt((local.scale**2).sum()))
    if z_total**2 <= local.bound:      # the root is one more element of the same Bonferroni family
        return None
    # The table's factor from the typical leaf (predict-weighted median of real / predict), not the
    # totals: a clean baseline that the slices which moved beyond it do not drag.
    positive = predict > 0
    factor = weighted_median(real[positive] / predict[positive], predict[positive])
    if factor <= 0:
        return None
    # Elements the local model keeps inside another of its elements (a leaf inside a platform) are
    # refinements either model may carry: the wide model is offered them too, so the comparison below
    # is about the coarse structure (one table factor against several slices' factors), not about
    # fine elements that one search happened to find. A factor of exactly 1 leaves the forecast as it
    # was (x * 1.0 is x), and so the explanation.
    refinements = [f for f in local.found if f.cuboid and any(
        o is not f and o.cuboid and np.isin(f.leaves, o.leaves).all() for o in local.found)]
    beyond = local if factor == 1.0 else _explain(index, real, predict * factor, forecast_share, extra=refinements)
    local_covers = np.zeros(len(real), dtype=bool)
    for finding in local.found:
        local_covers[finding.leaves] = True
    if (len(beyond.found) + 1 >= len(local.found) and not local_covers.all() and any(
            (_factor(real, predict, f.leaves) - 1.0) * (factor - 1.0) <= 0 for f in beyond.found)):
        # "All slices moved" is contradicted by an element that did not move the table's way, and the
        # slices that did move, leaving the rest of the table where it was forecast, say the same with
        # no more elements: name them, not the table. (Elements that cover the whole table, e.g. every
        # platform, are a table-wide move in another form and do not count against it.)
        return None
    # Both models judged on one noise scale: the cleaner (smaller) of the two fits, per leaf.
    scale = np.minimum(local.scale, beyond.scale)
    cost_local = description_length(real, predict, scale, [f.leaves for f in local.found], None, local.bound)
    cost_wide = description_length(real, predict, scale, [f.leaves for f in beyond.found], factor, local.bound)
    if cost_wide >= cost_local:
        return None
    covered = np.zeros(len(real), dtype=bool)
    for finding in beyond.found:
        covered[finding.leaves] = True
    wide_deviation = abs(deviation_total - float((real[covered] - predict[covered]).sum()))
    if wide_deviation**2 < local.bound * float((beyond.scale[~covered] ** 2).sum()):
        return None     # significant on its own like any other cause, or not named
    p_value = min(1.0, local.n_elements * 2 * float(norm.sf(abs(z_total))))
    root = Finding((), 0, np.arange(len(real)), 1.0 - p_value, in_aggregate=True)
    return Explanation([root] + beyond.found, [wide_deviation] + beyond.unique, wide_deviation + beyond.total,
                       beyond.scale, beyond.bound, beyond.n_elements)


@dataclass(frozen=True)
class Explanation:
    found: list[Finding]
    unique: list[float]     # deviation each explains on its own (parsimony.unique_deviations)
    total: float            # the deviation to explain
    scale: np.ndarray       # noise scale per leaf
    bound: float            # squared Bonferroni z over every element of the cube
    n_elements: int


def _explain(index: CuboidIndex, real: np.ndarray, predict: np.ndarray,
             forecast_share: np.ndarray | None = None, extra: Sequence[Finding] = ()) -> Explanation:
    """Both searches, the greedy cover, then backward elimination to the significant few. `extra`:
    more candidates for the elimination to judge (`table_wide`'s refinements)."""
    states = classify_leaves(real, predict, forecast_share)
    abnormal = states.abnormal_low | states.abnormal_high
    test = ScoreTest(index, real, predict, states.scale, states.precise_forecast)
    deviation = real - predict
    in_aggregate = _aggregate_causes(index, test, deviation)
    seen = {(f.cuboid, f.code) for f in in_aggregate}
    leaf_level = [f for f in (_leaf_level_causes(index, states, real, predict) if abnormal.any() else [])
                  if (f.cuboid, f.code) not in seen]
    # No cover across the two searches: an element found in aggregate may contain one found leaf by
    # leaf (a huge leaf makes its parent significant); `prune` keeps whichever explains on its own.
    seen |= {(f.cuboid, f.code) for f in leaf_level}
    offered = [f for f in extra if (f.cuboid, f.code) not in seen]
    candidates = in_aggregate + leaf_level + offered
    kept, unique, total = prune(candidates, real, predict, abnormal, states.scale, test.bound, index)
    merged = _merge_into_parents(index, kept, candidates, real, predict, states.scale, test.bound)
    if merged is not kept:
        kept, unique, total = prune(merged, real, predict, abnormal, states.scale, test.bound, index)
    return Explanation(kept, unique, total, states.scale, test.bound, test.n_elements)


def _merge_into_parents(index: CuboidIndex, kept: list[Finding], candidates: list[Finding], real: np.ndarray,
                        predict: np.ndarray, scale: np.ndarray, bound: float) -> list[Finding]:
    """`kept` with kept elements that lie inside one candidate replaced by it, where that describes
    the leaves in fewer bits (`parsimony.description_length`, a Bonferroni bound per element); `kept`
    itself when no replacement does.

    Backward elimination judges each element given the others: a parent whose children were all
    found (its abnormal ones, leaf by leaf) explains nothing beyond them, and each child explains
    something beyond the rest once the parent is gone, so a 12% loss on a country comes out as its
    five abnormal event types. The elimination cannot see that one element would do for all five;
    description length can: five factors and five penalties against one of each, the parent's
    factor also fitted to its children that moved less. Replacements are made the best first,
    until none shortens the description (the minimum description length principle, J. Rissanen,
    "Modeling by shortest data description", Automatica 14, 1978)."""
    def holders(found: list[Finding]) -> dict[tuple[Cuboid, int], list[Finding]]:
        # The elements that hold each one: on every proper subset of its dimensions, the element of
        # its values there (`CuboidIndex.projection`).
        out: dict[tuple[Cuboid, int], list[Finding]] = {}
        for f in found:
            for layer in range(1, len(f.cuboid)):
                for coarser in combinations(f.cuboid, layer):
                    out.setdefault((coarser, int(index.projection(f.cuboid, coarser)[f.code])), []).append(f)
        return out

    # The replacement changes the model only on the parent's leaves (the elements it replaces lie
    # inside it, and it takes the last word there), so each is judged on those leaves alone.
    current = kept
    while True:
        within = holders(current)
        offers = [(parent, within[(parent.cuboid, parent.code)]) for parent in candidates
                  if len(within.get((parent.cuboid, parent.code), ())) >= 2 and not any(parent is f for f in current)]
        if not offers:
            return current
        misfit = leaf_misfit(real, fitted_values(real, predict, [f.leaves for f in current]), scale)
        best = None
        for parent, inside in offers:
            leaves = parent.leaves
            expected = float(predict[leaves].sum())
            if expected <= 0:
                continue
            refit = leaf_misfit(real[leaves], predict[leaves] * (float(real[leaves].sum()) / expected), scale[leaves])
            change = float(refit.sum()) - float(misfit[leaves].sum()) - bound * (len(inside) - 1)
            if change < 0 and (best is None or change < best[0]):
                best = (change, [f for f in current if not any(f is g for g in inside)] + [parent])
        if best is None:
            return current
        current = best[1]


def _aggregate_causes(index: CuboidIndex, test: ScoreTest, deviation: np.ndarray) -> list[Finding]:
    """Stepwise selection over all leaves (materiality is judged later, by `parsimony.prune`)."""
    everything = np.ones(len(deviation), dtype=bool)
    return [Finding(step.cuboid, step.code, index.element_leaves(step.cuboid, step.code), 1.0 - step.p_value,
                    in_aggregate=True)
            for step in stepwise_causes(test, eligible=everything, max_steps=MAX_STEPWISE_STEPS)]


def _leaf_level_causes(index: CuboidIndex, states: LeafStates, real: np.ndarray,
                       predict: np.ndarray) -> list[Finding]:
    """Maximal pure elements kept by greedy cover (see `_cover`)."""
    votes = leaf_votes(states, real, predict)
    deviation, variance = real - predict, states.scale**2
    found: list[_LeafLevel] = []
    for candidate in maximal_pure_elements(index, states, real, predict):
        leaves = index.element_leaves(candidate.cuboid, candidate.code)
        if np.sign(float(real[leaves].sum() - predict[leaves].sum())) == candidate.direction:
            cuboid, code = _sharpest(index, states, deviation, variance, candidate.cuboid, candidate.code,
                                     candidate.direction)
            leaves = index.element_leaves(cuboid, code)
            hits, total = purity_votes(states, votes, candidate.direction, leaves)
            found.append(_LeafLevel(cuboid, code, leaves, (hits + 0.5) / (total + 1.0)))
    abnormal = states.abnormal_low | states.abnormal_high
    kept = _cover(found, deviation, np.where(abnormal, states.z**2, 0.0), MIN_EVIDENCE_LEAVES * states.threshold**2)
    return [Finding(f.cuboid, f.code, f.leaves, f.confidence, in_aggregate=False)
            for f in kept]


@dataclass
class _LeafLevel:
    """An element found leaf by leaf, with its leaves as indices: thousands of them are weighed by the
    cover, and only the few it keeps become `Finding`s."""
    cuboid: Cuboid
    code: int
    leaves: np.ndarray      # ascending leaf indices (`CuboidIndex.element_leaves`)
    confidence: float


def _sharpest(index: CuboidIndex, states: LeafStates, deviation: np.ndarray, variance: np.ndarray,
              cuboid: Cuboid, code: int, direction: int) -> tuple[Cuboid, int]:
    """The element, among this one and its descendants that hold all of its abnormal leaves, whose
    deviation stands out most from its noise (z^2 of the summed raw deviation, `deviation` = real -
    predict over `variance` = scale^2); ties to the most general. A pure element can be pure only
    because its other leaves are too small to show anything (uninformative): then the one leaf that
    moved, not its whole dimension value, is what the data shows, and it is the layer that explains
    the deviation with as few elements."""
    leaves = index.element_leaves(cuboid, code)
    hit = leaves[(states.abnormal_low if direction < 0 else states.abnormal_high)[leaves]]

    def strength(leaves: np.ndarray) -> float:
        return float(deviation[leaves].sum()) ** 2 / max(float(variance[leaves].sum()), 1e-300)

    best, best_strength = (cuboid, code), strength(leaves)
    if len(hit) == 0:
        return best
    for finer in index.descendants(cuboid):
        codes = index.codes(finer)[hit]
        if (codes != codes[0]).any():
            continue
        candidate = strength(index.element_leaves(finer, int(codes[0])))
        if candidate > best_strength * (1 + 1e-9):
            best, best_strength = (finer, int(codes[0])), candidate
    return best


def _cover(found: list[_LeafLevel], deviation: np.ndarray, evidence: np.ndarray,
           min_gain: float) -> list[_LeafLevel]:
    """Greedy set cover (Chvatal 1979): elements by absolute deviation, largest first, each kept only
    if it adds at least `min_gain` of evidence (squared standardised errors of abnormal leaves) not
    already covered by those kept.
    This drops elements whose abnormal leaves lie inside a larger cause, e.g. a sparse slice with
    data only where the real cause is, and lone noise leaves."""
    covered = np.zeros(len(deviation), dtype=bool)
    kept: list[_LeafLevel] = []
    for finding in sorted(found, key=lambda f: -abs(float(deviation[f.leaves].sum()))):
        if float(evidence[finding.leaves[~covered[finding.leaves]]].sum()) >= min_gain:
            kept.append(finding)
            covered[finding.leaves] = True
    return kept


def _factor(real: np.ndarray, predict: np.ndarray, leaves: np.ndarray) -> float:
    expected = float(predict[leaves].sum())
    return float(real[leaves].sum()) / expected if expected > 0 else 1.0
