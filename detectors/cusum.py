"""Drift detector: two-sided tabular CUSUM on deseasonalised, robustly standardised residuals.

A reference period (the `reference_weeks` seasons before the monitoring window) gives a per-phase
median baseline and a MAD scale; residuals of the last `monitor_days` points (the current one
included) are accumulated in Page's two-sided CUSUM, S+ = max(0, S+ + z - k) and S- likewise
(E. S. Page, "Continuous Inspection Schemes", Biometrika 41, 1954; Montgomery, "Introduction to
Statistical Quality Control", ch. 9). With reference value k = 0.5 it is tuned to a sustained shift of
one sigma, so a slow ratio drift that no single day reveals adds up. The p-value uses the stationary
tail of the reflected Brownian motion with drift -k that approximates the chart, P(S > h) ~ exp(-2kh)
(Siegmund, "Sequential Analysis", 1985, ch. X); the chart restarts at the start of the monitoring
window and a discrete walk overshoots less than the diffusion, both of which make this conservative.
A monitored day that is kept out of baselines (flagged, `detectors.baseline`) also restarts it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.base import (
    Detector,
    DetectorParams,
    Scores,
    SeriesWindow,
    nanmedian,
    phase_noise_weights,
    phase_profile,
    phases_of_history,
    seasonal_difference_scale,
    standardise,
)


@dataclass(frozen=True)
class CusumParams(DetectorParams):
    reference_weeks: int = 8
    monitor_days: int = 14
    k: float = 0.5  # allowance in sigma units: half the shift the chart is tuned to find
    min_reference_days: int = 14
    min_relative_scale: float = 0.001
    interval_z: float = 3.0

    def check(self) -> None:
        if self.reference_weeks < 1:
            self.fail("reference_weeks", "must be at least 1")
        if self.monitor_days < 1:
            self.fail("monitor_days", "must be at least 1")
        if self.k <= 0:
            self.fail("k", "must be > 0")
        if self.min_reference_days < 3:
            self.fail("min_reference_days", "must be at least 3")
        if self.min_relative_scale < 0:
            self.fail("min_relative_scale", "must be >= 0")
        if self.interval_z <= 0:
            self.fail("interval_z", "must be > 0")


class Cusum(Detector):
    name = "cusum"
    Params = CusumParams

    def lookback(self, season_length: int) -> int:
        return self.params.reference_weeks * season_length + self.params.monitor_days - 1

    def min_history(self, season_length: int) -> int:
        return self.params.min_reference_days

    def score(self, window: SeriesWindow) -> Scores:
        s, monitor = window.season_length, self.params.monitor_days
        values = window.values
        n, width = values.shape
        reference = values[:, : width - monitor]
        ref_phases = phases_of_history(width - 1, s)[: width - monitor]
        profile = phase_profile(reference, int(ref_phases[0]), s)
        rows = np.arange(n)[:, None]
        baseline_ref = profile[rows, ref_phases[None, :]]
        weights = phase_noise_weights(profile)
        seasons = np.maximum(np.sum(np.isfinite(reference), axis=1) / s, 1.0)
        # Each phase baseline is a median of `seasons` values (variance ~ pi/2 sigma^2 / seasons) and
        # its error repeats every time the phase recurs in the monitoring window; widen for it.
        repeats = max(1.0, monitor / s)
        scale = seasonal_difference_scale(reference, weights, ref_phases, s)
        scale = scale * np.sqrt(1 + repeats * np.pi / 2 / seasons)
        level = nanmedian(np.abs(profile), axis=1)
        scale = np.fmax(scale, self.params.min_relative_scale * level)

        mon_phases = (np.arange(width - monitor, width) - (width - 1)) % s
        baseline = profile[rows, mon_phases[None, :]]
        mon_scale = scale[:, None] * weights[rows, mon_phases[None, :]]
        # The chart reads clean days only: a monitored day kept out of baselines (flagged, or holding
        # a flagged slice) restarts it, so an incident's days do not keep it high after the incident.
        monitored = values[:, width - monitor :]
        restart = np.isfinite(window.recent[:, width - monitor :]) & ~np.isfinite(monitored)
        restart[:, -1] = False
        z = np.nan_to_num(standardise(monitored - baseline, mon_scale), nan=0.0)
        z = np.clip(z, -1e6, 1e6)
        up, down = np.zeros(n), np.zeros(n)
        for j in range(monitor):
            up = np.where(restart[:, j], 0.0, np.maximum(0.0, up + z[:, j] - self.params.k))
            down = np.where(restart[:, j], 0.0, np.maximum(0.0, down - z[:, j] - self.params.k))
        stat = np.maximum(up, down)
        sign = np.where(up >= down, 1, -1)
        p_value = np.minimum(1.0, 2.0 * np.exp(-2.0 * self.params.k * stat))
        p_value = np.where(np.isfinite(scale) & np.isfinite(profile[:, 0]), p_value, np.nan)
        expected = profile[:, 0]
        half = self.params.interval_z * scale * weights[:, 0]
        return Scores(
            expected=expected,
            lower=expected - half,
            upper=expected + half,
            score=sign * stat,
            p_value=p_value,
            direction=np.where(stat > 0, sign, 0).astype(np.int8),
        )
