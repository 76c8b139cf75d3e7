"""Parsimony: keep the fewest elements that explain a deviation, each material on its own.

The searches in `localize` may return an element next to its parent or its children (a parent is
significant because its children are; a child because its parent moved). Under the ripple effect
(Squeeze, Li et al., ISSRE 2019) a root cause moves every leaf below it by one factor, so

* an element inside another kept element is needed only as far as it departs from that element's
  factor: its *unique* deviation is its deviation minus what its parent's factor (fitted on the
  parent's other leaves) already predicts;
* an element containing other kept elements is needed only for the deviation of its leaves
  outside them.

Elements whose unique deviation is below `MIN_SHARE` of the deviation to explain are dropped, the
least material first, and the rest re-evaluated (backward elimination, as in stepwise regression;
the explanatory-power threshold plays the role of RiskLoc's `pep_threshold`, Kalander 2022, applied
here to every candidate however it was found, after overlaps are accounted for).
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
from scipy import sparse

from rootcause.noise import TRIM

# Share of the deviation to explain that an element must carry on its own: below it a cause changes
# no decision next to the others. Chosen on Squeeze B0 and one seed of bench/rca/riskloc_sets.py
# (0.01 and 0.02 drop real causes there: a 40% drop of a small slice beside a large incident carries
# 0.6%); reported on other seeds. Noise is kept out by significance (`unique_deviations`), not by it.
MIN_SHARE = 0.005


class HasMask(Protocol):
    mask: np.ndarray


def unique_deviations(kept: Sequence[HasMask], real: np.ndarray, predict: np.ndarray, scale: np.ndarray,
                      bound: float) -> list[float]:
    """|deviation| each element explains that no other kept element does (see module docstring);
    0 when that deviation is within noise (its z^2 below `bound`, the Bonferroni bound of the
    search): a child that moved with its parent, up to noise, explains nothing of its own."""
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
            noise = float(variance[finding.mask].sum())
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
          bound: float) -> tuple[list, list[float], float]:
    """(kept findings, their unique deviations, the deviation to explain).

    The deviation to explain is the kept elements' unique deviations plus the absolute deviation of
    `unexplained` leaves (abnormal leaves) outside every kept element. The weakest element is dropped
    and the rest re-evaluated until every one is material (`unique_deviations` after each drop).

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
    members = [np.flatnonzero(f.mask) for f in kept]
    size = np.array([m.size for m in members])
    incidence = sparse.csr_matrix((np.ones(int(size.sum())), (np.repeat(np.arange(k), size), np.concatenate(members))),
                                  shape=(k, len(real)))
    overlap = (incidence @ incidence.T).tocsr()
    # Ancestors of each element (it lies within them and they are larger), innermost first; ties in
    # the order of `found`, as `unique_deviations` takes the first smallest.
    ancestors: list[list[int]] = []
    for i in range(k):
        row = overlap.getrow(i)
        candidates = [int(j) for j, shared in zip(row.indices, row.data)
                      if j != i and shared == size[i] and size[j] > size[i]]
        if size[i] == 0:
            candidates = [j for j in range(k) if j != i and size[j] > 0]
        ancestors.append(sorted(candidates, key=lambda j: (size[j], j)))
    deviation = real - predict
    variance = scale**2
    cover = np.asarray(incidence.sum(axis=0)).ravel()       # alive elements holding each leaf
    alive = np.ones(k, dtype=bool)
    parent = [-1] * k
    unique = [0.0] * k
    pair_cache: dict[tuple[int, int], float] = {}

    def evaluate(i: int) -> None:
        finding = kept[i]
        inner = next((j for j in ancestors[i] if alive[j]), -1)
        parent[i] = inner
        if inner >= 0:
            if (i, inner) not in pair_cache:
                own_deviation = float((real[finding.mask] - predict[finding.mask]).sum())
                rest = kept[inner].mask & ~finding.mask
                expected_rest = float(predict[rest].sum())
                factor = float(real[rest].sum()) / expected_rest if expected_rest > 0 else 1.0
                value = own_deviation - float(predict[finding.mask].sum()) * (factor - 1.0)
                noise = float(variance[finding.mask].sum())
                pair_cache[(i, inner)] = abs(value) if value**2 >= bound * noise else 0.0
            unique[i] = pair_cache[(i, inner)]
            return
        own = members[i][cover[members[i]] == 1]
        value = float((real[own] - predict[own]).sum())
        noise = float(variance[own].sum())
        unique[i] = abs(value) if value**2 >= bound * noise else 0.0

    for i in range(k):
        evaluate(i)
    while alive.any():
        order = np.flatnonzero(alive)
        current = [unique[i] for i in order]
        total = sum(current) + float(np.abs(deviation[unexplained & (cover == 0)]).sum())
        weakest = int(order[int(np.argmin(current))])
        if total > 0 and unique[weakest] >= MIN_SHARE * total:
            return [kept[i] for i in order], current, total
        alive[weakest] = False
        cover[members[weakest]] -= 1
        row = overlap.getrow(weakest)
        affected = set(int(j) for j in row.indices) | {i for i in np.flatnonzero(alive) if parent[i] == weakest}
        for i in sorted(affected):
            if alive[i]:
                evaluate(i)
    return [], [], 0.0


def description_length(real: np.ndarray, predict: np.ndarray, scale: np.ndarray, masks: Sequence[np.ndarray],
                       table_factor: float | None, penalty: float) -> float:
    """Misfit plus cost of a model of the leaves, in squared standard errors (Rissanen's minimum
    description length, with the risk-inflation penalty of Foster & George 1994: `penalty` per
    element, the squared Bonferroni z of the search). The model: each element's leaves move by one
    factor (its real / predict); the other leaves by 1, or by `table_factor` (the table-wide
    factor the search rescaled by, which then costs one element more). Misfit is Huber's loss of the standardised
    residuals (clipped at `noise.TRIM`), so that a few wild leaves cannot decide."""
    fitted = predict.astype(np.float64).copy()
    covered = np.zeros(len(real), dtype=bool)
    for mask in masks:
        expected = float(predict[mask].sum())
        if expected > 0:
            fitted[mask] = predict[mask] * float(real[mask].sum()) / expected
        covered |= mask
    if table_factor is not None:
        fitted[~covered] = predict[~covered] * table_factor
    z = np.abs(real - fitted) / scale
    huber = np.where(z <= TRIM, z**2, 2 * TRIM * z - TRIM**2)
    return float(huber.sum()) + penalty * (len(masks) + int(table_factor is not None))
