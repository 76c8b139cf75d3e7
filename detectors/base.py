"""The one detector interface: pure math on a matrix of aligned trailing windows.

A detector never sees dates, holidays or series ids. The runner (`detectors.runner`) hands it a
`SeriesWindow`: one row per series, one column per regular time step, the last column being the point
under test and every earlier column its past. Gaps, holidays and excluded points are NaN. Because a
detector only ever receives past columns plus the current one, every detector is causal by
construction: a backfill sees exactly what the daily run saw. Past points that must not feed a
baseline (flagged days, see `detectors.baseline`) are NaN in `values` too; `recent_values` keeps them
so a detector whose statistic accumulates the recent days (a CUSUM's monitoring window) can tell
which of them were kept out and restart after them.
"""
from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Mapping

import numpy as np

# 1 / Phi^-1(3/4): makes the median absolute deviation a consistent estimate of a normal sigma.
MAD_TO_SIGMA = 1.4826
# sqrt(pi / 2): makes the mean absolute deviation a consistent estimate of a normal sigma.
MEAN_AD_TO_SIGMA = 1.2533


@dataclass(frozen=True)
class SeriesWindow:
    """`values[i, -1]` is the point under test of series i; `values[i, :-1]` its past, oldest first."""

    values: np.ndarray
    denominators: np.ndarray | None
    season_length: int
    # `values` with flagged days kept (only gaps and holidays NaN): a past day with a value here and
    # none in `values` was kept out of the baseline (a CUSUM restarts after it).
    recent_values: np.ndarray | None = None
    recent_denominators: np.ndarray | None = None
    # Past days kept out of `values` only because a drift found later covered them (its days before it
    # was found, `detectors.baseline`): no baseline learns from them, but a drift chart's monitoring
    # window still reads them (from `recent_values`) as that drift's own evidence.
    held: np.ndarray | None = None

    @property
    def recent(self) -> np.ndarray:
        return self.values if self.recent_values is None else self.recent_values

    @property
    def recent_denoms(self) -> np.ndarray | None:
        return self.denominators if self.recent_denominators is None else self.recent_denominators

    @property
    def history(self) -> np.ndarray:
        return self.values[:, :-1]

    @property
    def current(self) -> np.ndarray:
        return self.values[:, -1]


def latest_days(usable: np.ndarray, count: int) -> np.ndarray:
    """The last `count` usable columns of each row (all of them where there are fewer).

    A baseline of a fixed number of clean days, the nearest ones however far back the flags push them,
    rather than a fixed span of calendar days: a span that lost days to flags (an incident, a drift's
    days before it was found) estimates the level and spread from fewer days, so its spread is noisier
    and its test less calibrated just after an incident, when another one on the same slice is likely."""
    from_right = np.cumsum(usable[:, ::-1], axis=1)[:, ::-1]
    return usable & (from_right <= count)


@dataclass(frozen=True)
class Scores:
    """Raw detector output for the current point of every series (arrays of shape (n_series,)).

    `direction` is +1 (above expected), -1 (below) or 0 (no evidence either way).
    Deciding whether a score is an anomaly is the runner's job, not the detector's.
    """

    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    score: np.ndarray
    p_value: np.ndarray
    direction: np.ndarray
    # Drift detectors: days since the drift began (0 = today) and its cumulative effect in the
    # metric's units (events for a ratio); NaN where there is none.
    drift_days: np.ndarray | None = None
    cumulative_effect: np.ndarray | None = None
    # Drift detectors that fit a ramp: the estimated level reached so far and the slope per day, both
    # relative to `expected` (-0.02 = 2% below); the runner's minimum effect reads them (`runner.decide`).
    drift_level: np.ndarray | None = None
    drift_slope: np.ndarray | None = None


@dataclass(frozen=True)
class DetectorParams:
    """Base of every detector's parameter set: validates on construction and names the bad value."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Override to validate ranges; raise `ValueError` via `self.fail`."""

    def fail(self, param: str, message: str) -> None:
        raise ValueError(f"{type(self).__name__}.{param}: {message} (got {getattr(self, param)!r})")

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_mapping(cls, detector: str, params: Mapping[str, Any]) -> "DetectorParams":
        unknown = sorted(set(params) - set(cls.names()))
        if unknown:
            raise ValueError(
                f"detector {detector!r}: unknown parameter(s) {unknown}; valid parameters: {cls.names()}"
            )
        converted = {}
        for field in fields(cls):
            if field.name not in params:
                continue
            value = params[field.name]
            kind = type(field.default)
            if kind is bool:
                if not isinstance(value, bool):
                    raise ValueError(f"detector {detector!r}: {field.name} must be true/false (got {value!r})")
            elif kind in (int, float):
                if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                    raise ValueError(f"detector {detector!r}: {field.name} must be a number (got {value!r})")
                if kind is int and float(value) != int(value):
                    raise ValueError(f"detector {detector!r}: {field.name} must be an integer (got {value!r})")
                value = kind(value)
            converted[field.name] = value
        try:
            return cls(**converted)
        except ValueError as err:
            raise ValueError(f"detector {detector!r}: {err}") from None


class Detector(ABC):
    """Scores the last column of a `SeriesWindow` from its earlier columns only."""

    name: ClassVar[str]
    Params: ClassVar[type[DetectorParams]]
    needs_denominator: ClassVar[bool] = False
    # Whether `score` works on many rows at once in numpy (False: one model fit per series).
    vectorised: ClassVar[bool] = True

    def __init__(self, params: DetectorParams) -> None:
        if not isinstance(params, self.Params):
            raise TypeError(f"{type(self).__name__} needs {self.Params.__name__}, got {type(params).__name__}")
        self.params = params

    @abstractmethod
    def lookback(self, season_length: int) -> int:
        """Number of past points the detector reads (the window is this + 1 columns wide)."""

    @abstractmethod
    def min_history(self, season_length: int) -> int:
        """Fewest non-missing past points within the lookback needed for a verdict."""

    @abstractmethod
    def score(self, window: SeriesWindow) -> Scores:
        """Score `window.current` of every row using `window.history` only."""


def robust_scale(residuals: np.ndarray, axis: int | tuple[int, ...] = -1) -> np.ndarray:
    """Normal-consistent MAD around zero of already-centred residuals, NaN-aware.

    Quantised or mostly-constant series have MAD = 0 even when they move; there the mean absolute
    deviation times sqrt(pi/2) (normal-consistent) is used instead (Iglewicz & Hoaglin, "How to Detect
    and Handle Outliers", ASQC 1993), so only a truly flat past gets a zero scale.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        absolute = np.abs(residuals)
        mad = MAD_TO_SIGMA * np.nanmedian(absolute, axis=axis)
        mean_ad = MEAN_AD_TO_SIGMA * np.nanmean(absolute, axis=axis)
    return np.where(mad > 0, mad, mean_ad)


def _nanmedian(a: np.ndarray, axis) -> np.ndarray:
    # np.nanmedian warns on all-NaN slices; an all-NaN slice is a normal "no data" answer here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a, axis=axis)


nanmedian = _nanmedian


def direction_of(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    return np.sign(np.nan_to_num(observed - expected)).astype(np.int8)


def standardise(deviation: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """deviation / scale, where a zero scale (a perfectly flat past) makes any change infinitely unusual."""
    with np.errstate(all="ignore"):
        z = deviation / scale
    flat = scale == 0
    return np.where(flat, np.where(deviation == 0, 0.0, np.copysign(np.inf, deviation)), z)


def phase_profile(block: np.ndarray, first_phase: int, season_length: int) -> np.ndarray:
    """Median per seasonal phase of `block` (n, m) whose first column has phase `first_phase`.

    Returns (n, season_length); phase 0 is the phase of the point under test.
    """
    n, m = block.shape
    phases = (first_phase + np.arange(m)) % season_length
    profile = np.full((n, season_length), np.nan)
    for phase in range(season_length):
        cols = phases == phase
        if cols.any():
            profile[:, phase] = nanmedian(block[:, cols], axis=1)
    return profile


def phases_of_history(length: int, season_length: int) -> np.ndarray:
    """Phase of each of `length` past columns when the point under test (column `length`) has phase 0."""
    return (np.arange(length) - length) % season_length


def phase_noise_weights(profile: np.ndarray) -> np.ndarray:
    """Relative noise level of each seasonal phase, assuming variance grows like the level.

    Event counts are Poisson-like: a weekend at half the weekday volume is less noisy in absolute
    terms, so a scale pooled over phases would be too wide at the weekend and too narrow on weekdays.
    Residuals are divided by sqrt(level / mean level) before pooling and the pooled scale is
    multiplied back for the phase under test. Rows whose profile is not strictly positive (signed
    metrics, ratios around zero) keep equal weights.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        relative = profile / np.nanmean(profile, axis=1, keepdims=True)
        weights = np.sqrt(relative)
    positive = np.all(np.isfinite(profile) & (profile > 0), axis=1, keepdims=True)
    return np.where(positive, weights, 1.0)


def seasonal_difference_scale(history: np.ndarray, phase_weights: np.ndarray, phases: np.ndarray, season_length: int) -> np.ndarray:
    """Robust noise sigma from differences one season apart, y_t - y_{t-s}, which have variance 2 sigma^2.

    Unlike residuals around an in-sample median (one of which is exactly zero for every phase), seasonal
    differences are not shrunk by the estimate, and a slow trend barely moves them. `phase_weights`
    (n, season_length) rescales each phase's noise (see `phase_noise_weights`); `phases` gives the
    phase of each history column. Returns the sigma of a weight-1 phase.
    """
    rows = np.arange(history.shape[0])[:, None]
    scaled = history / phase_weights[rows, phases[None, :]]
    diffs = scaled[:, season_length:] - scaled[:, :-season_length]
    return robust_scale(diffs) / np.sqrt(2.0)
