"""Find the most general elements whose informative leaves are (almost) all abnormal.

The idea follows the "ripple effect" of Squeeze (Li et al., ISSRE 2019): a root cause changes every
leaf below it, so a root cause is an element whose leaves are abnormal in one direction, and which is
not itself below another such element. Where RiskLoc (Kalander, 2022) searches layer by layer for the
element of highest explanatory power with a risk score over 0.5, and AutoRoot / Squeeze rank elements
within clusters of deviation scores, here every cuboid is scored at once and an element is kept iff

* *pure*: at least `PURITY` of its informative leaves are abnormal in the same direction, and
* *maximal*: no element of a sub-cuboid that contains it is pure in that direction.

Under a ripple-effect failure the maximal pure elements are the failing elements, also when several
fail at once, because a union of elements is not itself pure unless one of them contains it. The
exceptions are sparse elements that only have data where a failing element is; `localize` removes
them with a greedy cover.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rootcause.cuboids import Cuboid, CuboidIndex, parents
from rootcause.noise import LeafStates

# Share of informative leaves that must be abnormal. Below 1 so that a few leaves that were not hit
# (or were hit too weakly to see) do not split a root cause into its children; well above 1/2 so that
# a union of several root causes along one small dimension (3 of 6 values) is not taken as one.
PURITY = 0.9


@dataclass(frozen=True)
class Candidate:
    cuboid: Cuboid
    code: int
    direction: int          # -1 drop, +1 rise


def leaf_votes(states: LeafStates, real: np.ndarray, predict: np.ndarray) -> np.ndarray:
    """Each informative leaf votes with sqrt(predict): the signal-to-noise ratio a proportional change
    of its count has under counting noise, so a leaf expected to hold 1 event, which a failure cannot
    visibly change, barely counts, and one huge leaf cannot outvote dozens of ordinary ones. A leaf
    expected empty but observed (say, events the warehouse lost but the client logged) votes with
    sqrt(real), as a zero forecast is judged at its observation (`noise.precise_noise_scale`).

    The vote is the leaf's weight under the null, fixed before it moved: weighted by how far it moved
    (sqrt(max(real, predict))), a leaf that rose 1,000-fold outvoted 30 unmoved siblings, and a
    slice holding one risen element and several unmoved ones looked "pure" (RiskLoc's generator
    draws rises of 1 / (1 - r) with r up to 1, i.e. up to 1,000-fold)."""
    return np.sqrt(np.where(predict > 0, predict, np.maximum(real, 0.0))) * states.informative


def purity_votes(states: LeafStates, votes: np.ndarray, direction: int, leaves: np.ndarray) -> tuple[float, float]:
    """(votes of leaves abnormal in `direction`, all votes) within `leaves` (a mask or leaf indices);
    `votes` from `leaf_votes`."""
    vote = votes[leaves]
    abnormal = (states.abnormal_low if direction < 0 else states.abnormal_high)[leaves]
    return float(vote[abnormal].sum()), float(vote.sum())


def maximal_pure_elements(index: CuboidIndex, states: LeafStates, real: np.ndarray,
                          predict: np.ndarray) -> list[Candidate]:
    """Every maximal pure element, in either direction."""
    vote = leaf_votes(states, real, predict)
    # Abnormal votes as (leaf indices, votes): a sum over them alone is the sum over every leaf with
    # the others' votes zeroed, to the bit (bincount adds in leaf order, and adding +0.0 changes
    # nothing), at the cost of the few abnormal leaves.
    abnormal = []
    for direction, mask in ((-1, states.abnormal_low), (1, states.abnormal_high)):
        leaves = np.flatnonzero(mask)
        abnormal.append((direction, leaves, vote[leaves]))
    found: list[Candidate] = []
    # Per (cuboid, direction), per element: it, or an element of a sub-cuboid that contains it, is
    # pure. Kept per element, not per leaf: the leaves of an element all lie in the same element of
    # each sub-cuboid. Built from the immediate parents only, so the cost grows as D 2^D, not 3^D,
    # in D dimensions.
    below_pure: dict[tuple[Cuboid, int], np.ndarray] = {}
    for cuboids in index.layers():
        for cuboid in cuboids:
            n_informative = index.sums(cuboid, vote)
            codes, size = index.codes(cuboid), index.size(cuboid)
            projections = [(parent, index.projection(cuboid, parent)) for parent in parents(cuboid)]
            for direction, leaves, abnormal_vote in abnormal:
                n_abnormal = np.bincount(codes[leaves], weights=abnormal_vote, minlength=size)
                pure = (n_abnormal > 0) & (n_abnormal >= PURITY * n_informative)
                dominated = np.zeros(size, dtype=bool)
                for parent, projection in projections:
                    dominated |= below_pure[(parent, direction)][projection]
                below_pure[(cuboid, direction)] = dominated | pure
                for code in np.flatnonzero(pure & ~dominated):
                    found.append(Candidate(cuboid, int(code), direction))
    return found
