"""Parsimony: keep the fewest elements that explain a deviation, each significant on its own.

The searches in `localize` may return an element next to its parent or its children (a parent is
significant because its children are; a child because its parent moved). Under the ripple effect
(Squeeze, Li et al., ISSRE 2019) a root cause moves every leaf below it by one factor, so

* an element inside another kept element is needed only as far as it departs from that element's
  factor: its *unique* deviation is its deviation minus what its parent's factor (fitted on the
  parent's other leaves) already predicts;
* an element containing other kept elements is needed only for the deviation of its leaves
  outside them.

Elements whose unique deviation is not significant are dropped, the weakest first, and the rest
re-evaluated (backward elimination, as in stepwise regression). Significance is the one criterion:
the unique deviation's z^2 against the Bonferroni bound of the search, the bound every candidate
already had to beat to be found. There is no materiality cut on top (a share of the deviation, as
RiskLoc's `pep_threshold`, Kalander 2022): a small cause beside a large one is still a cause, and a
share cut drops exactly the second and third anomalies of a case, however clear they are.

A root cause's leaves need not all move by one factor (RiskLoc's generator draws each leaf's change
around its anomaly's severity; real failures are no tidier). A child judged against its parent's
factor with forecast noise alone then departs from it "significantly" and is named beside it. So
a child's departure is judged against the parent's own scatter, in two parts: a variance component
of the parent's leaves around its factor (`element_variance_function`, a random-effects view of the
ripple effect: leaf factor = the cause's factor + a leaf-level deviation), and a calibration on the
child's siblings, which under the null depart from the parent as the child does
(`sibling_inflation`). Only a child that departs beyond what its parent's other parts show is named.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
from scipy import sparse
from scipy.stats import chi2

from rootcause.cuboids import CuboidIndex
from rootcause.noise import TRIM, fit_variance_function, refit_variance_function, weighted_median

_CHI2_MEDIAN = float(chi2.median(1))


class HasMask(Protocol):
    mask: np.ndarray


def unique_deviations(kept: Sequence[HasMask], real: np.ndarray, predict: np.ndarray, scale: np.ndarray,
                      bound: float, index: CuboidIndex | None = None) -> list[float]:
    """|deviation| each element explains that no other kept element does (see module docstring);
    0 when that deviation is within noise (its z^2 below `bound`, the Bonferroni bound of the
    search): a child that moved with its parent, up to noise and the spread of its parent's leaf
    factors (`element_variance_function`), explains nothing of its own. With `index`, a child's z^2
    is also calibrated on its siblings (`sibling_inflation`)."""
    out = []
    variance = scale**2
    for i, finding in enumerate(kept):
        others = [o for j, o in enumerate(kept) if j != i]
        ancestors = [o for o in others if not (finding.mask & ~o.mask).any() and o.mask.sum() > finding.mask.sum()]
        own_deviation = float((real[finding.mask] - predict[finding.mask]).sum())
        if ancestors:
            parent = min(ancestors, key=lambda o: int(o.mask.sum()))      # the innermost
            rest = parent.mask & ~finding.mask
            expected_rest = float(predict[rest].sum())
            factor = float(real[rest].sum()) / expected_rest if expected_rest > 0 else 1.0
            unique = own_deviation - float(predict[finding.mask].sum()) * (factor - 1.0)
            spread = element_variance_function(real, predict, parent.mask)
            noise = within_variance(predict, scale, finding.mask, spread)
            codes = _codes_of(finding, index)
            if codes is not None:
                siblings = sibling_inflation(real, predict, scale, parent.mask, spread, codes)
                noise *= _inflation_of(siblings, finding.code)
        else:
            covered = np.zeros(len(real), dtype=bool)
            for other in others:
                covered |= other.mask
            own = finding.mask & ~covered
            unique = float((real[own] - predict[own]).sum())
            noise = float(variance[own].sum())
        out.append(abs(unique) if unique**2 >= bound * noise else 0.0)
    return out


def prune(found: list, real: np.ndarray, predict: np.ndarray, unexplained: np.ndarray, scale: np.ndarray,
          bound: float, index: CuboidIndex | None = None) -> tuple[list, list[float], float]:
    """(kept findings, their unique deviations, the deviation to explain).

    The deviation to explain is the kept elements' unique deviations plus the absolute deviation of
    `unexplained` leaves (abnormal leaves) outside every kept element. The weakest element is dropped
    and the rest re-evaluated until every one explains a significant deviation of its own
    (`unique_deviations` after each drop).

    Each drop changes the unique deviation only of the elements that share leaves with the one
    dropped (its descendants, whose innermost ancestor it may have been, and the elements whose own
    leaves it covered), so only those are re-evaluated: the same sums over the same leaves as
    `unique_deviations`, at a cost that grows with the overlaps, not with (elements)^2 x leaves each
    round (a search can return a thousand leaf-level elements inside one anomalous slice).
    """
    kept = list(found)
    if not kept:
        return [], [], 0.0
    k = len(kept)
    members = [_leaves_of(f) for f in kept]
    size = np.array([m.size for m in members])
    incidence = sparse.csr_matrix((np.ones(int(size.sum())), (np.repeat(np.arange(k), size), np.concatenate(members))),
                                  shape=(k, len(real)))
    overlap = (incidence @ incidence.T).tocsr()
    # Ancestors of each element (it lies within them and they are larger), innermost first; ties in
    # the order of `found`, as `unique_deviations` takes the first smallest.
    ancestors: list[list[int]] = []
    for i in range(k):
        # Row i of the CSR matrix read off its arrays (`getrow` builds a matrix per call).
        row = slice(overlap.indptr[i], overlap.indptr[i + 1])
        candidates = [int(j) for j, shared in zip(overlap.indices[row], overlap.data[row])
                      if j != i and shared == size[i] and size[j] > size[i]]
        if size[i] == 0:
            candidates = [j for j in range(k) if j != i and size[j] > 0]
        ancestors.append(sorted(candidates, key=lambda j: (size[j], j)))
    deviation = real - predict
    variance = scale**2
    cover = np.asarray(incidence.sum(axis=0)).ravel()       # alive elements holding each leaf
    alive = np.ones(k, dtype=bool)
    parent = np.full(k, -1)
    unique = np.zeros(k)
    pair_cache: dict[tuple[int, int], float] = {}
    spread: dict[int, tuple[float, float]] = {}       # per parent, `element_variance_function`
    inflation: dict[tuple[int, tuple[int, ...]], tuple[np.ndarray, np.ndarray]] = {}  # per parent, cuboid

    totals: dict[int, _ElementTotals] = {}            # per parent
    own_values: dict[int, tuple[np.ndarray, np.ndarray]] = {}   # per element without a kept ancestor
    # (child, parent) pairs whose unique deviation is certainly significant (`math.inf` in
    # `pair_cache` until computed): (own deviation, own expected, threshold)
    pending: dict[tuple[int, int], tuple[float, float, float]] = {}
    scratch = np.zeros(len(real), dtype=bool)      # all False between uses

    def outside(leaves: np.ndarray, excluded: np.ndarray) -> np.ndarray:
        """`leaves` not in `excluded` (both ascending indices), in order: the leaves the mask
        expression `mask & ~excluded_mask` selects, at the cost of the two elements' sizes."""
        scratch[excluded] = True
        rest = leaves[~scratch[leaves]]
        scratch[excluded] = False
        return rest

    def exact(i: int, inner: int, own_deviation: float, own_expected: float, threshold: float) -> float:
        """The child's unique deviation against its parent's factor on the parent's other leaves
        (module docstring), 0 when its square is below `threshold`."""
        rest = outside(members[inner], members[i])
        expected_rest = float(predict[rest].sum())
        factor = float(real[rest].sum()) / expected_rest if expected_rest > 0 else 1.0
        value = own_deviation - own_expected * (factor - 1.0)
        return abs(value) if value**2 >= threshold else 0.0

    def evaluate(i: int) -> None:
        # Sums over leaf indices (`members`, ascending) rather than masks over every leaf: the same
        # values in the same order, so the same floats, at the cost of the element's size.
        finding, leaves = kept[i], members[i]
        inner = next((j for j in ancestors[i] if alive[j]), -1)
        parent[i] = inner
        if inner >= 0:
            if (i, inner) not in pair_cache:
                own_deviation = float((real[leaves] - predict[leaves]).sum())
                own_expected = float(predict[leaves].sum())
                if inner not in spread:
                    spread[inner] = element_variance_function(real, predict, members[inner])
                noise = within_variance(predict, scale, leaves, spread[inner])
                codes = _codes_of(finding, index)
                if codes is not None:
                    key = (inner, finding.cuboid)
                    if key not in inflation:
                        inflation[key] = sibling_inflation(real, predict, scale, members[inner], spread[inner],
                                                           codes)
                    noise *= _inflation_of(inflation[key], finding.code)
                if inner not in totals:
                    totals[inner] = _ElementTotals.of(real, predict, members[inner])
                threshold = bound * noise
                span = totals[inner].unique_span(float(real[leaves].sum()), own_deviation, own_expected)
                if span is not None and span[1] ** 2 * (1 + _SLACK) < threshold:
                    pair_cache[(i, inner)] = 0.0
                elif span is not None and span[0] ** 2 * (1 - _SLACK) > threshold:
                    # Certainly significant: only its value is left to compute, and only a kept
                    # element's is reported; the elimination needs to know it is not 0.
                    pair_cache[(i, inner)] = math.inf
                    pending[(i, inner)] = (own_deviation, own_expected, threshold)
                else:
                    pair_cache[(i, inner)] = exact(i, inner, own_deviation, own_expected, threshold)
            unique[i] = pair_cache[(i, inner)]
            return
        # Its leaves no other element holds. An element that holds many others is re-evaluated after
        # each of them is dropped, so its leaves' deviations and variances are gathered once: the
        # selection then picks the same values in the same order, the same floats.
        if i not in own_values:
            own_values[i] = (real[leaves] - predict[leaves], variance[leaves])
        own_deviations, own_variances = own_values[i]
        own = cover[leaves] == 1
        value = float(own_deviations[own].sum())
        noise = float(own_variances[own].sum())
        unique[i] = abs(value) if value**2 >= bound * noise else 0.0

    for i in range(k):
        evaluate(i)
    while alive.any():
        order = np.flatnonzero(alive)
        weakest = int(order[int(np.argmin(unique[order]))])
        # The weakest explaining something means every one does, and the total is then positive.
        if unique[weakest] > 0:
            # Only whether an element explains anything (0 or not) steered the elimination; the
            # values of the kept ones still to compute are computed now, and the total with them.
            for i in order.tolist():
                pair = (i, int(parent[i]))
                if pair in pending:
                    unique[i] = pair_cache[pair] = exact(*pair, *pending.pop(pair))
            current = [float(unique[i]) for i in order]
            total = sum(current) + float(np.abs(deviation[unexplained & (cover == 0)]).sum())
            return [kept[i] for i in order], current, total
        alive[weakest] = False
        cover[members[weakest]] -= 1
        row = overlap.indices[overlap.indptr[weakest] : overlap.indptr[weakest + 1]]
        affected = set(row.tolist()) | set(np.flatnonzero(alive & (parent == weakest)).tolist())
        for i in sorted(affected):
            if alive[i]:
                evaluate(i)
    return [], [], 0.0


_UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2
# Relative slack on the few roundings of the bound's own arithmetic (a handful of unit roundoffs
# each), taken a thousand times over.
_SLACK = 1e-12


@dataclass(frozen=True)
class _ElementTotals:
    """A parent's sums of real and predict, their sums of absolute values and its size: enough to
    bound, without summing them, the sums over its leaves outside a child."""
    real: float
    predict: float
    real_abs: float
    predict_abs: float
    size: int

    @classmethod
    def of(cls, real: np.ndarray, predict: np.ndarray, leaves: np.ndarray) -> _ElementTotals:
        r, p = real[leaves], predict[leaves]
        return cls(float(r.sum()), float(p.sum()), float(np.abs(r).sum()), float(np.abs(p).sum()), len(leaves))

    def unique_span(self, own_real: float, own_deviation: float, own_expected: float
                    ) -> tuple[float, float] | None:
        """(smallest, largest) the absolute unique deviation of a child can be, as `prune` computes it
        from the sums over the parent's other leaves: bounded from the parent's totals less the
        child's, with every rounding accounted for, so that a child whose departure is clearly
        within noise, or clearly beyond it, costs its own size and not its parent's. None when the
        rest of the parent may be empty of forecast (the caller then sums the other leaves).

        Bound: a float sum of n terms, in any order of pairwise additions, is within
        (n - 1) u sum |x_i| + O(u^2) of the exact sum (u the unit roundoff; Higham, *Accuracy and
        Stability of Numerical Algorithms*, 2nd ed. 2002, section 4.2). The parent's total, the
        child's and the sum over the rest are each within that of the exact values, all bounded by
        the parent's sum of absolute values, so the total less the child's is within four times it
        of the rest's computed sum (the subtraction's own rounding included)."""
        gamma = 2 * (self.size + 1) * _UNIT_ROUNDOFF      # twice (n + 1) u: covers the O(u^2) term
        rest_real = self.real - own_real
        rest_predict = self.predict - own_expected
        # Each widened by a relative slack besides, which covers the roundings of the arithmetic below.
        real_error = 4 * gamma * self.real_abs + _SLACK * abs(rest_real)
        predict_error = 4 * gamma * self.predict_abs + _SLACK * abs(rest_predict)
        if rest_real - real_error < 0 or rest_predict - predict_error <= 0:
            return None
        # factor = rest real / rest predict, increasing in the first and decreasing in the second.
        low = (rest_real - real_error) / (rest_predict + predict_error) * (1 - _SLACK)
        high = (rest_real + real_error) / (rest_predict - predict_error) * (1 + _SLACK)
        if not np.isfinite(high):
            return None
        # unique = own deviation - own expected x (factor - 1), linear in the factor.
        slack = _SLACK * (abs(own_deviation) + abs(own_expected) * (high + 1.0))
        ends = own_deviation - own_expected * (high - 1.0), own_deviation - own_expected * (low - 1.0)
        largest = max(abs(ends[0]), abs(ends[1])) + slack
        smallest = 0.0 if ends[0] * ends[1] <= 0 else max(min(abs(ends[0]), abs(ends[1])) - slack, 0.0)
        return smallest, largest


def sibling_inflation(real: np.ndarray, predict: np.ndarray, scale: np.ndarray, mask: np.ndarray,
                      spread: tuple[float, float], codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the codes of a parent's children in one cuboid, ascending; each child's inflation): how far
    the children's departures from the parent's factor run beyond their modelled variance, read for
    each child from its siblings, the other elements of its cuboid inside the parent (`mask`, a mask
    or ascending leaf indices; `codes`, every leaf's element in that cuboid).

    Each child gets the statistic a child is tested by, z^2 = (its real - its predict x the
    children's common factor)^2 / `within_variance`; under the null that they all moved with the
    parent these are chi-square(1), and the median over a child's siblings divided by
    chi-square(1)'s median is the factor by which the model understates their variance (genomic
    control, Devlin & Roeder, Biometrics 1999; an empirical null, Efron, JASA 2004). The common
    factor is the children's predict-weighted median, not the parent's total, and the median is
    taken over the siblings: other causes among them, which would drag the total and make every
    sibling look departed, set neither. A parent whose children differ by more than its leaves do (a
    failure that spared its smallest leaves, say) has siblings that all depart from it; one child
    alone departing is a cause of its own. At least 1 (never sharper than the model); 1 with fewer
    than two siblings."""
    inside = np.flatnonzero(mask) if mask.dtype == bool else mask
    groups, local = np.unique(codes[inside], return_inverse=True)
    a, b = spread
    q, r = predict[inside], real[inside]
    group_real = np.bincount(local, weights=r, minlength=len(groups))
    group_predict = np.bincount(local, weights=q, minlength=len(groups))
    leaf_noise = np.maximum(scale[inside] ** 2, a * q**2 + b * q)      # as `within_variance`
    group_noise = np.bincount(local, weights=leaf_noise, minlength=len(groups))
    valid = (group_noise > 0) & (group_predict > 0)
    inflation = np.ones(len(groups))
    if valid.sum() < 2:
        return groups, inflation
    center = weighted_median(group_real[valid] / group_predict[valid], group_predict[valid])
    statistic = (group_real[valid] - group_predict[valid] * center) ** 2 / group_noise[valid]
    order = np.argsort(statistic, kind="stable")
    ranked = statistic[order]
    n = len(ranked)
    # Leave-one-out medians: a valid child's rank among the valid ones, n for one that is not.
    rank = np.full(len(groups), n)
    rank[np.flatnonzero(valid)[order]] = np.arange(n)
    size = np.where(rank < n, n - 1, n)
    low, high = (size - 1) // 2, size // 2

    def pick(position: np.ndarray) -> np.ndarray:
        return ranked[np.minimum(np.where(position >= rank, position + 1, position), n - 1)]

    median = 0.5 * (pick(low) + pick(high))
    enough = size >= 2
    inflation[enough] = np.maximum(1.0, median[enough] / _CHI2_MEDIAN)
    return groups, inflation


def _leaves_of(finding) -> np.ndarray:
    """A finding's leaves as ascending indices: its `leaves` when it has them (`localize.Finding`),
    else those of its `mask`."""
    leaves = getattr(finding, "leaves", None)
    return np.flatnonzero(finding.mask) if leaves is None else leaves


def _inflation_of(groups_and_inflation: tuple[np.ndarray, np.ndarray], code: int) -> float:
    groups, inflation = groups_and_inflation
    return float(inflation[np.searchsorted(groups, code)])


def _codes_of(finding: HasMask, index: CuboidIndex | None) -> np.ndarray | None:
    """Every leaf's element in the finding's cuboid, when the finding names one and `index` is given."""
    cuboid = getattr(finding, "cuboid", None)
    if index is None or not cuboid:
        return None
    return index.codes(cuboid)


def within_variance(predict: np.ndarray, scale: np.ndarray, inside: np.ndarray,
                    spread: tuple[float, float]) -> float:
    """Noise of the summed deviation of the leaves `inside` an element from the element's factor:
    per leaf the larger of its forecast-noise variance (scale^2) and the variance the element's
    leaves show around that factor (`spread`, from `element_variance_function`); `inside` a mask or
    ascending leaf indices."""
    a, b = spread
    q = predict[inside]
    return float(np.maximum(scale[inside] ** 2, a * q**2 + b * q).sum())


def element_variance_function(real: np.ndarray, predict: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(a, b): the variance a p^2 + b p, in the leaf's forecast p, of an element's leaves around the
    element's own factor (real - factor x predict), fitted as the forecast noise is fitted
    (`noise.fit_variance_function`, `noise.refit_variance_function`: robust per-bin scales, then
    iteratively trimmed least squares), so that a cause of its own among them, however large, does
    not widen it. `a` is the spread of the leaf factors (a variance component, as in random-effects
    models; Searle, Casella & McCulloch, *Variance Components*, 1992, ch. 1), `b` counting noise the
    failure brought with it. Under the null that a child moved with its element, its leaves are a
    sample of the element's, so this is the variance of its deviation from the element's factor.
    `mask`: a mask or ascending leaf indices (the same leaves in the same order, the same sums)."""
    p, r = predict[mask], real[mask]
    expected = float(p.sum())
    if expected <= 0 or p.size < 2:
        return 0.0, 0.0
    fitted = p * (float(r.sum()) / expected)
    return refit_variance_function(r, fitted, p, *fit_variance_function(r, fitted, p))


def description_length(real: np.ndarray, predict: np.ndarray, scale: np.ndarray, masks: Sequence[np.ndarray],
                       table_factor: float | None, penalty: float) -> float:
    """Misfit plus cost of a model of the leaves, in squared standard errors (Rissanen's minimum
    description length, with the risk-inflation penalty of Foster & George 1994: `penalty` per
    element, the squared Bonferroni z of the search). The model: each element's leaves move by one
    factor (its real / predict); the other leaves by 1, or by `table_factor` (the table-wide
    factor the search rescaled by, which then costs one element more). Misfit is Huber's loss of the standardised
    residuals (clipped at `noise.TRIM`), so that a few wild leaves cannot decide. `masks`: each
    element's leaves, a mask or ascending leaf indices."""
    fitted = fitted_values(real, predict, masks, table_factor)
    return float(leaf_misfit(real, fitted, scale).sum()) + penalty * (len(masks) + int(table_factor is not None))


def fitted_values(real: np.ndarray, predict: np.ndarray, masks: Sequence[np.ndarray],
                  table_factor: float | None = None) -> np.ndarray:
    """Each leaf's value under `description_length`'s model: predict times the factor of the last of
    `masks` that holds it, or `table_factor` (1 when None) where none does."""
    fitted = predict.astype(np.float64).copy()
    covered = np.zeros(len(real), dtype=bool)
    for mask in masks:
        expected = float(predict[mask].sum())
        if expected > 0:
            fitted[mask] = predict[mask] * float(real[mask].sum()) / expected
        covered[mask] = True
    if table_factor is not None:
        fitted[~covered] = predict[~covered] * table_factor
    return fitted


def leaf_misfit(real: np.ndarray, fitted: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per leaf, Huber's loss of the standardised residual, clipped at `noise.TRIM` (`description_length`)."""
    z = np.abs(real - fitted) / scale
    return np.where(z <= TRIM, z**2, 2 * TRIM * z - TRIM**2)
