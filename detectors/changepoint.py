"""Change-point detector: has the level shifted within the last few points?

For every candidate split that leaves `min_segment` to `max_segment` recent points (the current one
included) the median of the recent segment is compared with the mean of the earlier part of the
window, both taken on residuals from a per-phase median profile of the reference part. The noise scale
comes from first differences, MAD(diff) / sqrt(2), which a single level shift barely moves. This is the
at-most-one-change mean-shift scan of Hinkley ("Inference about the change-point in a sequence of
random variables", Biometrika 57, 1970) restricted to recent splits so it stays causal and online,
with a median for the recent segment so a one-day spike is left to the point-outlier detectors. The
maximum over splits is Bonferroni-corrected, which is conservative because neighbouring splits are
strongly correlated.
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
    nanmedian,
    phase_noise_weights,
    phase_profile,
    phases_of_history,
    robust_scale,
)


@dataclass(frozen=True)
class ChangepointParams(DetectorParams):
    window_weeks: int = 8
    min_segment: int = 3
    max_segment: int = 14
    min_relative_scale: float = 0.005
    interval_z: float = 3.0

    def check(self) -> None:
        if self.window_weeks < 2:
            self.fail("window_weeks", "must be at least 2")
        if self.min_segment < 1:
            self.fail("min_segment", "must be at least 1")
        if self.max_segment < self.min_segment:
            self.fail("max_segment", "must be >= min_segment")
        if self.min_relative_scale < 0:
            self.fail("min_relative_scale", "must be >= 0")
        if self.interval_z <= 0:
            self.fail("interval_z", "must be > 0")


class Changepoint(Detector):
    name = "changepoint"
    Params = ChangepointParams

    def lookback(self, season_length: int) -> int:
        return self.params.window_weeks * season_length

    def min_history(self, season_length: int) -> int:
        return 2 * season_length + self.params.max_segment

    def score(self, window: SeriesWindow) -> Scores:
        s = window.season_length
        p = self.params
        values = window.values
        n, width = values.shape
        if width - p.max_segment < s:
            raise ValueError(f"{type(self).__name__}: window too short for max_segment={p.max_segment}")
        phases = np.append(phases_of_history(width - 1, s), 0)
        reference = values[:, : width - p.max_segment]
        profile = phase_profile(reference, int(phases[0]), s)
        rows = np.arange(n)[:, None]
        weights = phase_noise_weights(profile)
        # Residuals in units of the phase's own noise level, so weekdays and weekends compare.
        resid = (values - profile[rows, phases[None, :]]) / weights[rows, phases[None, :]]
        level = nanmedian(np.abs(profile), axis=1)
        sigma = robust_scale(np.diff(resid, axis=1)) / np.sqrt(2.0)
        sigma = np.fmax(sigma, p.min_relative_scale * level)
        sigma = np.where(sigma > 0, sigma, np.nan)

        seasons = max(1.0, reference.shape[1] / s)
        # The MAD of first differences is only ~37% efficient: refer t to a Student t accordingly.
        dof = np.maximum(2.0, 0.37 * np.sum(np.isfinite(np.diff(resid, axis=1)), axis=1))
        best_t = np.zeros(n)
        best_shift = np.zeros(n)
        best_before = np.full(n, np.nan)
        finite = np.isfinite(resid)
        total_sum = np.nansum(resid, axis=1)
        total_count = finite.sum(axis=1)
        for r in range(p.min_segment, p.max_segment + 1):
            recent = resid[:, -r:]
            n_recent = finite[:, -r:].sum(axis=1)
            n_before = total_count - n_recent
            before_mean = (total_sum - np.nansum(recent, axis=1)) / np.maximum(n_before, 1)
            with np.errstate(all="ignore"):
                shift = nanmedian(recent, axis=1) - before_mean
                # Recent median, earlier mean and the phase profile (medians of `seasons` values)
                # each carry estimation error.
                se = sigma * np.sqrt(
                    np.pi / (2 * n_recent) + 1.0 / n_before + np.pi / (2 * seasons * min(r, s))
                )
                t = np.where((n_recent > 0) & (n_before > 1), shift / se, np.nan)
            better = np.abs(np.nan_to_num(t)) > np.abs(best_t)
            best_t = np.where(better, t, best_t)
            best_shift = np.where(better, shift, best_shift)
            best_before = np.where(better | np.isnan(best_before), before_mean, best_before)
        splits = p.max_segment - p.min_segment + 1
        p_value = np.minimum(1.0, splits * 2.0 * stats.t.sf(np.abs(best_t), dof))
        p_value = np.where(np.isfinite(sigma), p_value, np.nan)
        expected = profile[:, 0] + best_before * weights[:, 0]
        half = p.interval_z * sigma * weights[:, 0]
        return Scores(
            expected=expected,
            lower=expected - half,
            upper=expected + half,
            score=best_t,
            p_value=p_value,
            direction=np.sign(np.nan_to_num(best_shift)).astype(np.int8),
        )
