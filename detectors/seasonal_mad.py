"""Robust seasonal baseline: trailing same-phase median, scored in robust noise units.

The expected value of the current point is the median of the same seasonal phase (same weekday for
daily data) over the last `window_weeks` seasons, optionally shifted by the median residual of the
most recent season so a level change is followed within a week. The noise scale is the MAD of
differences one season apart divided by sqrt(2), pooled over phases after dividing each phase by
sqrt(its level) (count noise grows with volume), then widened for the error of the median itself.
This is the seasonal median/MAD decomposition of Hochenbaum, Vallis & Kejariwal, "Automatic Anomaly
Detection in the Cloud Via Statistical Learning" (Twitter, arXiv:1704.07706, 2017), with the MAD
scale advocated by Leys et al., "Detecting outliers: Do not use standard deviation around the mean,
use absolute deviation around the median", J. Exp. Soc. Psychol. 49 (2013). Scores are referred to a
Student t whose degrees of freedom reflect the 37% efficiency of the MAD (Rousseeuw & Croux, JASA 88,
1993), so a short history widens the interval. With a season of one point it is a robust z-score
against the trailing median.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from detectors.base import (
    Detector,
    DetectorParams,
    Scores,
    SeriesWindow,
    direction_of,
    nanmedian,
    phase_noise_weights,
    seasonal_difference_scale,
    standardise,
)

MAD_EFFICIENCY = 0.37


@dataclass(frozen=True)
class SeasonalMadParams(DetectorParams):
    window_weeks: int = 6  # seasons of history read (weeks for daily data)
    min_weeks: int = 3  # fewest seasons of non-missing history before a verdict
    min_relative_scale: float = 0.01  # scale floor as a fraction of |expected|: very smooth series
    interval_z: float = 3.0  # half-width of the reported (lower, upper) band in scale units
    adjust_level: bool = True

    def check(self) -> None:
        if self.window_weeks < 2:
            self.fail("window_weeks", "must be at least 2")
        if not 1 <= self.min_weeks <= self.window_weeks:
            self.fail("min_weeks", "must be between 1 and window_weeks")
        if self.min_relative_scale < 0:
            self.fail("min_relative_scale", "must be >= 0")
        if self.interval_z <= 0:
            self.fail("interval_z", "must be > 0")


class SeasonalMad(Detector):
    name = "seasonal_mad"
    Params = SeasonalMadParams

    def lookback(self, season_length: int) -> int:
        return self.params.window_weeks * season_length

    def min_history(self, season_length: int) -> int:
        return self.params.min_weeks * season_length

    def score(self, window: SeriesWindow) -> Scores:
        s = window.season_length
        history, observed = window.history, window.current
        n, length = history.shape
        blocks = history.reshape(n, length // s, s)
        profile = nanmedian(blocks, axis=1)  # (n, s); phase 0 = phase of the current point
        weights = phase_noise_weights(profile)
        residuals = (blocks - profile[:, None, :]) / weights[:, None, :]  # in units of phase noise
        n_points = np.sum(~np.isnan(history), axis=1)
        seasons = np.maximum(np.sum(~np.isnan(blocks), axis=1).mean(axis=1), 1.0)
        phases = np.arange(length) % s
        scale = seasonal_difference_scale(history, weights, phases, s) * weights[:, 0]

        expected = profile[:, 0].copy()
        if self.params.adjust_level:
            level = nanmedian(residuals[:, -1, :], axis=1) * weights[:, 0]
            expected = expected + np.nan_to_num(level)
        # The expected value is itself a median of `seasons` values (variance ~ pi/2 sigma^2 / k),
        # plus a median of the last season's residuals when the level is adjusted: widen for both.
        estimate_var = np.pi / 2 / seasons + (np.pi / 2 / s if self.params.adjust_level else 0.0)
        scale = scale * np.sqrt(1.0 + estimate_var)
        scale = np.fmax(scale, self.params.min_relative_scale * np.abs(expected))

        with np.errstate(all="ignore"):
            z = standardise(observed - expected, scale)
            dof = np.maximum(2.0, MAD_EFFICIENCY * (n_points - s))
            p_value = 2.0 * stats.t.sf(np.abs(z), dof)
        half = self.params.interval_z * scale
        return Scores(
            expected=expected,
            lower=expected - half,
            upper=expected + half,
            score=z,
            p_value=p_value,
            direction=direction_of(observed, expected),
        )
