"""Per-leaf noise model and the abnormal / normal / uninformative split of the leaves.

The forecast error of a leaf is modelled with the quasi-likelihood variance function
``var(real - predict) = a * volume**2 + b * volume`` (McCullagh & Nelder, *Generalized Linear
Models*, ch. 9): `b` is Poisson-like counting noise, `a` multiplicative forecast error. Both are fitted
robustly per volume bin, from the 25th percentile of absolute errors (breakdown point 75%), so that
root-cause leaves, however many, do not inflate the noise estimate; the fit is then refined on the
leaves within `TRIM` standard errors, correcting for the trimming (iteratively trimmed least squares,
as in Huber, *Robust Statistics*, ch. 7), which uses every normal leaf and not a quarter of them.
Squeeze (Li et al., ISSRE 2019) and RiskLoc (Kalander, 2022) instead threshold a deviation score with
a cut-off derived from the data; a variance function also lets small count leaves be noisy without
being called abnormal.

When the forecast is much more precise than the observation (a ratio's expected numerator, today's
denominator times a baseline ratio over weeks of history), the caller says by how much
(`forecast_share`, the forecast error's variance as a share of the observation's); each leaf is then
judged against its forecast with the variance of the difference, ``(1 + share)`` times the
observation's (the delta method). Otherwise the forecast is taken to be as uncertain as the
observation, and a leaf is judged against its larger side (`noise_scale`).

A leaf is *abnormal* when its standardised error exceeds the Bonferroni bound for all leaves at a 5%
family-wise error rate. It is *informative* when a deviation of the typical root-cause size would have
made it abnormal; only informative leaves vote on whether an element is a root cause.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

FAMILY_WISE_ERROR = 0.05
_GAUSS_Q25_ABS = norm.ppf(0.625)   # P(|Z| <= 0.3186) = 0.25 for a standard normal Z
_VOLUME_BINS = 20
TRIM = 2.5   # standard errors; Huber's usual tuning range is 1.345-2.5, the upper end keeps efficiency
_MAX_REFITS = 30   # refits stop earlier, once (a, b) move by less than _CONVERGED (relative)
_CONVERGED = 1e-3


@dataclass(frozen=True)
class LeafStates:
    """Boolean masks over leaves, the standardised errors (against each leaf's larger side, or its
    forecast when that is precise) and the fitted noise scale of each leaf's forecast (`noise_scale`);
    `precise_forecast` when the caller gave the forecast's variance share."""

    z: np.ndarray
    scale: np.ndarray
    abnormal_low: np.ndarray
    abnormal_high: np.ndarray
    informative: np.ndarray
    threshold: float
    precise_forecast: bool = False


def fit_variance_function(real: np.ndarray, predict: np.ndarray, volume: np.ndarray) -> tuple[float, float]:
    """(a, b) of var = a*volume^2 + b*volume, fitted on robust per-bin scales (`volume`: see
    `noise_scale`)."""
    positive = volume > 0
    f, err = volume[positive], np.abs(real[positive] - predict[positive])
    if len(f) == 0:
        return 0.0, 0.0
    order = np.argsort(f, kind="stable")
    bins = np.array_split(order, min(_VOLUME_BINS, max(1, len(f) // 20)))
    rows, volumes, scales = [], [], []
    for members in bins:
        if len(members) == 0:
            continue
        volume = float(np.median(f[members]))
        # Errors relative to each leaf's own volume, scaled back to the bin's: the lowest bin spans
        # volumes over orders of magnitude (0.01-1 under a Weibull(0.5)), and the quartile of its raw
        # errors, set by its smallest leaves, understated the noise tenfold and pulled `a` with it
        # (relative least squares cannot let one bin's variance be overstated a hundredfold).
        scale = np.quantile(err[members] / f[members], 0.25) / _GAUSS_Q25_ABS * volume
        if scale > 0 and volume > 0:
            volumes.append(volume)
            scales.append(scale)
    if not volumes:
        return 0.0, 0.0
    volumes, variances = np.asarray(volumes), np.asarray(scales) ** 2
    # Relative least squares: each bin's equation divided by its own variance.
    return _nonnegative_least_squares(volumes**2 / variances, volumes / variances, np.ones(len(volumes)))


def refit_variance_function(real: np.ndarray, predict: np.ndarray, volume: np.ndarray, a: float,
                            b: float) -> tuple[float, float]:
    """Refit (a, b) on the leaves whose error is within TRIM standard errors under the current fit,
    until the fit stops moving: a start that is too small keeps too few leaves, and each refit
    widens it (3 fixed refits left a 600-leaf cube at 40% of its noise)."""
    trimmed_share = 2 * norm.cdf(TRIM) - 1
    # Variance of a standard normal truncated to [-TRIM, TRIM].
    kappa = 1 - 2 * TRIM * norm.pdf(TRIM) / trimmed_share
    # Leaves of no volume are never kept: set aside once, not on every refit. Each array keeps the
    # leaves' order, so the kept leaves, and every sum over them, are the same.
    positive = volume > 0
    volume = volume[positive]
    volume_squared, error_squared = volume**2, (real[positive] - predict[positive]) ** 2
    corrected = error_squared / kappa       # each kept leaf's squared error, corrected for the trim
    for _ in range(_MAX_REFITS):
        variance = a * volume_squared + b * volume
        keep = (variance > 0) & (error_squared <= TRIM**2 * variance)
        if keep.sum() < 10:
            break
        variance = variance[keep]
        squared = corrected[keep]
        a_new, b_new = _nonnegative_least_squares(volume_squared[keep] / variance, volume[keep] / variance,
                                                  squared / variance)
        if a_new == 0 and b_new == 0:
            break
        converged = abs(a_new - a) <= _CONVERGED * a and abs(b_new - b) <= _CONVERGED * max(b, 1e-300)
        a, b = float(a_new), float(b_new)
        if converged:
            break
    return a, b


def noise_scale(real: np.ndarray, predict: np.ndarray,
                forecast_share: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scale of each leaf's forecast error under the fitted variance function, the same at the
    leaf's larger side), both floored above 0; with `forecast_share`, both are the scale of
    real - predict at the forecast (see `precise_noise_scale`).

    The first is evaluated at `predict`: the scale of the error a forecast makes, which the
    aggregate tests sum over leaves. The second is evaluated at max(real, predict), and is the one a
    single leaf is judged by. A multiplicative forecast error is symmetric on either side of the
    comparison: the observation may be e x v or the forecast e x v, e ~ N(1, sd). Relative to the
    forecast, the second case gives real / predict = 1 / e, whose upper tail is far heavier than the
    normal one the Bonferroni bound assumes (sd 0.19 and e at 3 sd give z ~ 7 for a clean leaf).
    Relative to the larger side, both cases give |1 - e| / sd at most, and a change by a factor
    1 - r gives r / sd whether it drops or rises: the symmetric deviation of Squeeze's deviation
    score (Li et al., ISSRE 2019), with the larger side in place of the mean.
    """
    # A floor keeps exact forecasts finite; a leaf predicted 0 but observed > 0 keeps a scale.
    floor = max(1e-12, 1e-9 * float(np.max(predict, initial=0.0)))
    if forecast_share is not None:
        scale = np.maximum(precise_noise_scale(real, predict, forecast_share), floor)
        return scale, scale
    scales = []
    for volume in (predict, np.maximum(real, predict)):     # each with its own fit
        a, b = refit_variance_function(real, predict, volume, *fit_variance_function(real, predict, volume))
        scales.append(np.maximum(np.sqrt(a * volume**2 + b * volume), floor))
    return scales[0], scales[1]


def precise_noise_scale(real: np.ndarray, predict: np.ndarray, forecast_share: np.ndarray) -> np.ndarray:
    """Scale of real - predict when the forecast's error has `forecast_share` times the variance of
    the observation's: sqrt((1 + share) v(predict)), v the observation's variance function.

    The variance function is fitted to the observation's own error, the deviation deflated by
    sqrt(1 + share). Judged against its forecast, a rise by a factor 1 / (1 - r) shows as
    r / ((1 - r) sd); against the larger side it shows only as r / sd, which is what the symmetric
    treatment costs when the forecast is the precise side. A leaf forecast at 0 but observed is
    judged at its observation (a zero forecast has no variance to scale)."""
    inflation = 1.0 + forecast_share
    volume = np.where(predict > 0, predict, real)
    deflated = predict + (real - predict) / np.sqrt(inflation)
    a, b = refit_variance_function(deflated, predict, volume, *fit_variance_function(deflated, predict, volume))
    return np.sqrt(inflation * (a * volume**2 + b * volume))


def classify_leaves(real: np.ndarray, predict: np.ndarray, forecast_share: np.ndarray | None = None) -> LeafStates:
    """Standardise each leaf's error and split leaves into abnormal (low/high), informative, rest
    (`forecast_share`: see `noise_scale`)."""
    n = len(real)
    scale, leaf_scale = noise_scale(real, predict, forecast_share)
    floor = float(scale.min(initial=1e-12))
    z = (real - predict) / leaf_scale
    threshold = float(norm.isf(FAMILY_WISE_ERROR / (2 * max(n, 1))))
    low, high = z < -threshold, z > threshold
    abnormal = low | high
    informative = np.zeros(n, dtype=bool)
    if abnormal.any():
        typical = weighted_median(_relative_change(real[abnormal], predict[abnormal], floor,
                                                   forecast_share is not None), predict[abnormal] + 1e-12)
        informative = abnormal | (typical * predict / scale > threshold)
    return LeafStates(z, scale, low, high, informative, threshold, forecast_share is not None)


def _relative_change(real: np.ndarray, predict: np.ndarray, floor: float, precise: bool) -> np.ndarray:
    """A leaf's change on the scale its z is read on, so that `typical * predict / scale` is the z a
    typical cause would give it: against a precise forecast, |real - predict| / predict, a rise of
    1 / (1 - r) as large as it is (capped at 1, a 1,000-fold rise counted as a 100% one, and at forecast
    noise above 1 / threshold, about 0.2, no unmoved leaf was informative: every element holding an
    abnormal leaf was then "pure"); against the larger side, |real - predict| / max(real, predict),
    the symmetric deviation `noise_scale` judges leaves by (at most 1)."""
    change = np.abs(real - predict)
    if precise:
        return change / np.maximum(predict, floor)
    return change / np.maximum(np.maximum(real, predict), floor)


def _nonnegative_least_squares(x: np.ndarray, y: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """argmin ||a x + b y - target|| over a, b >= 0 (closed form per face)."""
    # Sums of products rather than BLAS matrix products: for two columns the threaded BLAS kernels
    # cost far more than the arithmetic, many times more on a busy machine.
    cross = float(np.sum(x * y))
    gram = np.array([[float(np.sum(x * x)), cross], [cross, float(np.sum(y * y))]])
    moment = np.array([float(np.sum(x * target)), float(np.sum(y * target))])
    target_norm = float(np.sum(target * target))
    best, best_loss = (0.0, 0.0), target_norm
    candidates = []
    if abs(np.linalg.det(gram)) > 1e-12 * max(gram[0, 0] * gram[1, 1], 1e-300):
        candidates.append(np.linalg.solve(gram, moment))
    for column in (0, 1):
        if gram[column, column] > 0:
            solution = np.zeros(2)
            solution[column] = moment[column] / gram[column, column]
            candidates.append(solution)
    for solution in candidates:
        if (solution >= 0).all():
            loss = float(target_norm - 2 * solution @ moment + solution @ gram @ solution)
            if loss < best_loss:
                best, best_loss = (float(solution[0]), float(solution[1])), loss
    return best


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at which half the weight lies on either side (the lower one at a tie)."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
