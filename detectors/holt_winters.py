"""Forecast-interval detector: additive Holt-Winters (ETS A,Ad,A) one step ahead.

Each series' trailing `window_weeks` seasons are fitted with statsmodels' `ExponentialSmoothing`
(damped additive trend, additive seasonality, parameters by maximum likelihood) and the current
point is compared with the one-step forecast; the interval half-width is `interval_z` robust sigmas of
the in-sample one-step errors (MAD, so a past outlier doesn't widen it). Method: Holt (1957), Winters,
"Forecasting sales by exponentially weighted moving averages", Mgmt. Sci. 6 (1960); damped trend of
Gardner & McKenzie (1985); see Hyndman & Athanasopoulos, "Forecasting: Principles and Practice", 3rd
ed., ch. 8. Gaps and holidays are filled with the median of their seasonal phase before fitting,
because the smoother needs a regular series. It fits one model per series, so it is the slow member
of the family and best kept for a few important series.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from detectors.base import (
    Detector,
    DetectorParams,
    Scores,
    SeriesWindow,
    direction_of,
    phase_noise_weights,
    phase_profile,
    seasonal_difference_scale,
    phases_of_history,
    robust_scale,
    standardise,
)


@dataclass(frozen=True)
class HoltWintersParams(DetectorParams):
    window_weeks: int = 8
    min_weeks: int = 3
    damped_trend: bool = True
    min_relative_scale: float = 0.01
    interval_z: float = 3.0

    def check(self) -> None:
        if self.window_weeks < 3:
            self.fail("window_weeks", "must be at least 3")
        if not 2 <= self.min_weeks <= self.window_weeks:
            self.fail("min_weeks", "must be between 2 and window_weeks")
        if self.min_relative_scale < 0:
            self.fail("min_relative_scale", "must be >= 0")
        if self.interval_z <= 0:
            self.fail("interval_z", "must be > 0")


class HoltWinters(Detector):
    name = "holt_winters"
    Params = HoltWintersParams
    vectorised = False

    def lookback(self, season_length: int) -> int:
        return self.params.window_weeks * season_length

    def min_history(self, season_length: int) -> int:
        return self.params.min_weeks * season_length

    def score(self, window: SeriesWindow) -> Scores:
        s = window.season_length
        history, observed = window.history, window.current
        n, length = history.shape
        profile = phase_profile(history, 0, s)
        phases = phases_of_history(length, s)
        filled = np.where(np.isnan(history), profile[np.arange(n)[:, None], phases[None, :]], history)
        expected, scale = np.full(n, np.nan), np.full(n, np.nan)
        for i in range(n):
            expected[i], scale[i] = self._forecast(filled[i], s)
        # A flexible model can fit short history too closely; never claim less noise than the
        # seasonal differences show, plus the forecast's own estimation error (~ k/n of the noise
        # variance for k fitted parameters).
        weights = phase_noise_weights(profile)
        n_points = np.sum(np.isfinite(history), axis=1)
        fitted_params = s + 5
        noise = seasonal_difference_scale(history, weights, phases % s, s) * weights[:, 0]
        noise = noise * np.sqrt(1 + fitted_params / np.maximum(n_points, 1))
        scale = np.fmax(scale, noise)
        scale = np.fmax(scale, self.params.min_relative_scale * np.abs(expected))
        z = standardise(observed - expected, scale)
        # Both scales are MAD-based (about 37% efficient): a Student t keeps the tails honest.
        dof = np.maximum(2.0, 0.37 * (n_points - s))
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

    def _forecast(self, series: np.ndarray, season_length: int) -> tuple[float, float]:
        """(one-step forecast, robust sigma of one-step errors), NaN when too little data to fit."""
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        finite = np.flatnonzero(np.isfinite(series))
        if finite.size == 0:
            return np.nan, np.nan
        # Start at the first season boundary after the leading gap so phases stay aligned.
        start = int(np.ceil(finite[0] / season_length) * season_length)
        y = series[start:]
        if y.size < 2 * season_length + 2 or not np.isfinite(y).all():
            return np.nan, np.nan
        if np.ptp(y) == 0:
            return float(y[-1]), 0.0
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            fit = ExponentialSmoothing(
                y,
                trend="add",
                damped_trend=self.params.damped_trend,
                seasonal="add",
                seasonal_periods=season_length,
                initialization_method="estimated",
            ).fit(use_brute=False, method="least_squares")  # same optimum, ~10x faster than the default
            forecast = float(np.asarray(fit.forecast(1))[0])
        resid = np.asarray(fit.resid)[season_length:]
        # In-sample errors understate out-of-sample ones by the fitted parameters (level, trend,
        # damping, smoothing and one initial value per phase): the usual n / (n - k) correction.
        fitted_params = season_length + 5
        dof_factor = np.sqrt(y.size / max(y.size - fitted_params, 1))
        return forecast, float(robust_scale(resid)) * dof_factor
