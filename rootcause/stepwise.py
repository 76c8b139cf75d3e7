"""Robust score test of the ripple effect, and a greedy stepwise search for causes too weak for any
single leaf to show.

A 10% loss spread over many small leaves leaves every leaf within its noise, yet the slice as a
whole is far off. Under the ripple effect (Squeeze, Li et al., ISSRE 2019) a root cause multiplies
X

    gain(e) = (sum_i psi(z_i) w_i)^2 / (E[psi(Z)^2] sum_i w_i^2),   w_i = s_i (p_i / s_i if the forecast is precise),

the sum of the leaves' clipped raw deviations (z_i the leaf's standardised error, s_i its noise
scale; see `ScoreTest` for why raw and not relative deviations), that is chi-square(1)
without a cause. psi is Huber's, clipped at `noise.TRIM` (Huber, "Robust Estimation of a Location
Parameter", 1964): a deviation spread thinly over many leaves keeps its full weight, while one or two
leaves in the noise tail cannot make a cause. Among an element, its ancestors and its descendants,
the failing element has the largest gain: an ancestor adds only noise to the denominator, a
descendant drops part of the numerator.

Forward stepwise selection (Efroymson 1960) keeps adding the element of largest gain, then sets its
leaves aside (as RiskLoc does with the leaves of a found cause, Kalander 2022), while the gain beats
the Bonferroni bound for one chi-square(1) test per element at a 5% family-wise error rate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from rootcause.cuboids import Cuboid, CuboidIndex
from rootcause.noise import FAMILY_WISE_ERROR, TRIM

# E[psi(Z)^2] for a standard normal Z and Huber's psi clipped at TRIM.
_PSI_VARIANCE = float((2 * norm.cdf(TRIM) - 1) - 2 * TRIM * norm.pdf(TRIM) + 2 * TRIM**2 * norm.sf(TRIM))


@dataclass(frozen=True)
class WeakCause:
    cuboid: Cuboid
    code: int
    gain: float
    p_value: float          # Bonferroni-adjusted


class ScoreTest:
    """The robust ripple-effect score test for every element of a cube, over a subset of leaves."""

    def __init__(self, index: CuboidIndex, real: np.ndarray, predict: np.ndarray, scale: np.ndarray,
                 precise_forecast: bool = False) -> None:
        self.index = index
        self.psi = np.clip((real - predict) / scale, -TRIM, TRIM)
        # psi x scale is the leaf's raw deviation, clipped at TRIM standard errors. Raw deviations
        # are unbiased whenever the forecast is unbiased; relative ones (psi x predict / scale, the
        # score of a proportional change) are not when the forecast is itself noisy: E[real /
        # predict] > 1 by Jensen's inequality, and that small bias summed over thousands of leaves
        # makes every large element "significant".
        # When the forecast is precise (`noise.precise_noise_scale`) that bias is second order, and
        # the weight is the efficient one for a proportional change, predict / scale (the score of
        # real = predict x (1 - r) under the variance function): one weight per leaf under
        # multiplicative noise, where raw deviations let the largest leaves outweigh the rest; the
        # same as raw deviations, up to a constant, under Poisson noise.
        self.weight = predict / scale if precise_forecast else scale
        self._score_weight = self.psi * self.weight
        self._information_weight = self.weight**2
        cuboids = [cuboid for layer in index.layers() for cuboid in layer]
        self.cuboids = cuboids
        self.n_elements = sum(index.size(cuboid) for cuboid in cuboids)
        self.bound = float(norm.isf(FAMILY_WISE_ERROR / (2 * max(self.n_elements, 1)))) ** 2

    def sums(self, cuboid: Cuboid, leaves: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per element of `cuboid`: (sum of psi w, E[psi^2] sum of w^2) over `leaves` (a mask or leaf
        indices; None for every leaf)."""
        codes, size = self.index.codes(cuboid), self.index.size(cuboid)
        score_weight, information_weight = self._score_weight, self._information_weight
        if leaves is not None:
            codes, score_weight, information_weight = codes[leaves], score_weight[leaves], information_weight[leaves]
        score = np.bincount(codes, weights=score_weight, minlength=size)
        information = _PSI_VARIANCE * np.bincount(codes, weights=information_weight, minlength=size)
        return score, information

    def sums_by(self, codes: np.ndarray, size: int, leaves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As `sums`, over `leaves` (indices) grouped by `codes` (one per leaf, 0..size-1)."""
        score = np.bincount(codes, weights=self._score_weight[leaves], minlength=size)
        information = _PSI_VARIANCE * np.bincount(codes, weights=self._information_weight[leaves], minlength=size)
        return score, information

    def p_value(self, gain: float) -> float:
        """Bonferroni-adjusted p-value of a gain, over every element of the cube."""
        return min(1.0, self.n_elements * 2 * float(norm.sf(np.sqrt(gain))))


def stepwise_causes(test: ScoreTest, eligible: np.ndarray, max_steps: int) -> list[WeakCause]:
    """Elements chosen by forward stepwise selection among the `eligible` leaves."""
    # Per-cuboid sums and gains, updated after each step only at the elements the chosen element's
    # leaves belong to (subtracting those leaves' sums) rather than recomputed.
    every = bool(eligible.all())
    sums = {cuboid: test.sums(cuboid, None if every else eligible) for cuboid in test.cuboids}
    floors = {cuboid: 1e-12 * information.max(initial=0.0) for cuboid, (_, information) in sums.items()}
    gains = {cuboid: _gain(score, information, floors[cuboid]) for cuboid, (score, information) in sums.items()}
    marks = {cuboid: np.zeros(len(score), dtype=bool) for cuboid, (score, _) in sums.items()}
    positions = {cuboid: np.zeros(len(score), dtype=np.int64) for cuboid, (score, _) in sums.items()}
    remaining = eligible.copy()
    chosen: list[WeakCause] = []
    for _ in range(max_steps):
        best = None
        for cuboid in test.cuboids:
            gain = gains[cuboid]
            code = int(np.argmax(gain))
            # Ties go to the most general element: cuboids come in layer order.
            if gain[code] > test.bound and (best is None or gain[code] > best[2] * (1 + 1e-9)):
                best = (cuboid, code, float(gain[code]))
        if best is None:
            break
        cuboid, code, gain_value = best
        chosen.append(WeakCause(cuboid, code, gain_value, test.p_value(gain_value)))
        taken = remaining & test.index.element_mask(cuboid, code)
        remaining &= ~taken
        taken_leaves = np.flatnonzero(taken)
        for other in test.cuboids:
            touched, local = _group(test.index.codes(other)[taken_leaves], marks[other], positions[other])
            score_part, information_part = test.sums_by(local, len(touched), taken_leaves)
            score, information = sums[other]
            score[touched] -= score_part
            information[touched] -= information_part
            floor = 1e-12 * information.max(initial=0.0)
            if floor == floors[other]:
                gains[other][touched] = _gain(score[touched], information[touched], floor)
            else:
                floors[other], gains[other] = floor, _gain(score, information, floor)
    return chosen


def _gain(score: np.ndarray, information: np.ndarray, floor: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(information > floor, score**2 / information, 0.0)


def _group(codes: np.ndarray, marks: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct codes in increasing order, each code's index among them), as `np.unique` with
    `return_inverse` but without sorting; `marks` (all False) and `positions` are scratch arrays
    over every code, and `marks` is left all False."""
    marks[codes] = True
    touched = np.flatnonzero(marks)
    marks[touched] = False
    positions[touched] = np.arange(len(touched))
    return touched, positions[codes]
