"""Slow ratio drifts: a two-sided CUSUM of count-aware residuals against a long clean reference.

A capture rate that slides 0.5% a day never looks unusual on one day, and a pooled window that
includes the drift moves with it. This detector fixes the expected rate p (and the overdispersion
rho, `ratio_binomial.fit_overdispersion`) on a reference period that ends where the monitoring
window begins and holds clean days only (`detectors.baseline`), so the drift cannot absorb itself.
Each monitored day gives a standardised residual z_t = (x_t - N_t p) / sd_t under the same
beta-binomial model as `ratio_binomial` (nested or independent counts), and Page's two-sided CUSUM
S_t = max(0, S_{t-1} + |z_t| - k) per direction accumulates them (E. S. Page, "Continuous Inspection
Schemes", Biometrika 41, 1954). k = 0.5 targets a shift of one day's sigma, which a drift of one
sigma per two days reaches within its first days.

The chart holds clean days only, like every baseline (`detectors.baseline`): a monitored day that
was flagged (by any detector of the series) or that holds a flagged slice restarts the chart after
it, the textbook restart after a signal. Without it an incident's days stay in the 14-day window
and keep the chart above its limit for up to two weeks after the incident ended. A drift that has
been found keeps being reported while it grows, since each restarted chart soon crosses the limit
again against the fixed reference.

The control limit is not taken from an asymptotic formula: it is set so that, on in-control data,
the mean time between alarm episodes is `arl_days`, by simulating a long in-control sequence (seeded,
cached) through the same steps, estimation of the reference included (`null_calibration`). The
p-value of a day is the simulated probability that the statistic reaches its value (an exponential
tail fitted to the simulated extreme beyond the simulation's resolution); below the limit there is
no evidence (p = 1). The day the chart last left zero is reported as the drift's start, and the sum
of x_t - N_t p since then as its cumulative effect in events.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from detectors.base import Detector, DetectorParams, Scores, SeriesWindow, direction_of
from scipy import stats

from detectors.ratio_binomial import TRIM, fit_overdispersion, nested_counts

SIMULATED_DAYS = 500_000
SIMULATION_SEED = 20_260_101


@dataclass(frozen=True)
class RatioDriftParams(DetectorParams):
    reference_days: int = 42  # clean days before the monitoring window that fix p and rho
    monitor_days: int = 14  # days the chart accumulates (the current one included)
    k: float = 0.5  # allowance in sigma units
    # In-control mean days between false alarm episodes per series, before FDR across slices. 1000
    # finds a 0.5%/day drift on a 1%-noise ratio within 7 days in 19 of 20 seeded series (3650: 10 of 20).
    arl_days: float = 1000.0
    min_reference_days: int = 21
    interval_z: float = 3.0
    model: str = "auto"  # as ratio_binomial: nested | independent | auto

    def check(self) -> None:
        if self.reference_days < 7:
            self.fail("reference_days", "must be at least 7")
        if not 2 <= self.monitor_days <= 60:
            self.fail("monitor_days", "must be between 2 and 60")
        if self.k <= 0:
            self.fail("k", "must be > 0")
        if not 20 <= self.arl_days <= 100_000:
            self.fail("arl_days", "must be between 20 and 100000")
        if not 3 <= self.min_reference_days <= self.reference_days:
            self.fail("min_reference_days", "must be between 3 and reference_days")
        if self.interval_z <= 0:
            self.fail("interval_z", "must be > 0")
        if self.model not in ("auto", "nested", "independent"):
            self.fail("model", "must be auto, nested or independent")


def windowed_cusum(z: np.ndarray, k: float, restart: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two-sided CUSUM over the columns of z (rows: series), restarted at column 0.

    A NaN residual (a gap or a holiday) leaves the chart where it was. `restart` (same shape, bool)
    marks days that must not feed the chart (flagged or excluded, `detectors.baseline`): the chart is
    reset to zero after each of them, so it only ever holds the clean days since the last one.
    Returns (statistic, sign, start column of the winning side's current excursion, its column count).
    """
    n, m = z.shape
    up, down = np.zeros(n), np.zeros(n)
    up_start, down_start = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    for j in range(m):
        up_start = np.where(up <= 0, j, up_start)
        down_start = np.where(down <= 0, j, down_start)
        step = z[:, j]
        gap = np.isnan(step)
        up = np.where(gap, up, np.maximum(0.0, up + step - k))
        down = np.where(gap, down, np.maximum(0.0, down - step - k))
        if restart is not None:
            up = np.where(restart[:, j], 0.0, up)
            down = np.where(restart[:, j], 0.0, down)
    sign = np.where(up >= down, 1, -1)
    stat = np.maximum(up, down)
    start = np.where(sign > 0, up_start, down_start)
    return stat, sign, start, m - start


@lru_cache(maxsize=32)
def null_calibration(monitor_days: int, k: float, arl_days: float, reference_days: int) -> tuple[float, np.ndarray, float]:
    """(control limit h, sorted simulated daily statistics, fitted tail rate) on in-control data.

    The simulation runs the detector's own steps on a long sequence of iid standard normal daily
    residuals: for every day, the level and the noise scale are estimated from the `reference_days`
    before its monitoring window (the same trimmed mean of absolute deviations as the overdispersion
    fit), and the monitored days are standardised by those estimates. So the limit allows for the
    estimates' error, which repeats on every monitored day and makes the tail heavier than a chart
    with known parameters would have.
    """
    rng = np.random.default_rng(SIMULATION_SEED)
    m, r = monitor_days, reference_days
    z = rng.standard_normal(SIMULATED_DAYS + r + m - 1)
    refs = np.lib.stride_tricks.sliding_window_view(z[: SIMULATED_DAYS + r - 1], r)   # day t's reference
    mons = np.lib.stride_tricks.sliding_window_view(z[r:], m)                         # day t's monitoring window
    level, scale = np.empty(SIMULATED_DAYS), np.empty(SIMULATED_DAYS)
    for lo in range(0, SIMULATED_DAYS, 100_000):
        block = refs[lo : lo + 100_000]
        level[lo : lo + block.shape[0]] = block.mean(axis=1)
        scale[lo : lo + block.shape[0]] = trimmed_normal_scale(np.abs(block - block.mean(axis=1, keepdims=True)))
    up, down = np.zeros(SIMULATED_DAYS), np.zeros(SIMULATED_DAYS)
    for j in range(m):
        step = (mons[:, j] - level) / scale
        up = np.maximum(0.0, up + step - k)
        down = np.maximum(0.0, down - step - k)
    daily = np.maximum(up, down)
    limit = _limit_for_arl(daily, arl_days)
    ordered = np.sort(daily)
    q99, q999 = np.quantile(ordered, [0.99, 0.999])
    rate = np.log(10.0) / max(q999 - q99, 1e-9)
    return limit, ordered, rate


def trimmed_normal_scale(absolute: np.ndarray) -> np.ndarray:
    """Normal sigma from the mean of each row's absolute deviations without the largest `TRIM` share."""
    kept = max(1, int(np.floor((1 - TRIM) * absolute.shape[1])))
    share = kept / absolute.shape[1]
    c = stats.norm.ppf((1 + share) / 2)
    expected = np.sqrt(2 / np.pi) * (1 - np.exp(-(c**2) / 2)) / share
    return np.sort(absolute, axis=1)[:, :kept].mean(axis=1) / expected


def _limit_for_arl(daily: np.ndarray, arl_days: float) -> float:
    """The smallest limit whose alarm episodes (days the statistic crosses it from below) are
    `arl_days` apart on average."""
    low, high = 0.0, float(daily.max())
    for _ in range(40):
        mid = (low + high) / 2
        above = daily >= mid
        episodes = np.count_nonzero(above[1:] & ~above[:-1]) + int(above[0])
        if episodes and daily.size / episodes < arl_days:
            low = mid
        else:
            high = mid
    return high


def null_tail(stat: np.ndarray, ordered: np.ndarray, rate: float) -> np.ndarray:
    """P(statistic >= stat) on in-control data: empirical, then an exponential tail past the 99.9th
    percentile (the simulated extreme is too sparse to read further out)."""
    size = ordered.size
    empirical = (size - np.searchsorted(ordered, stat, side="left")) / size
    anchor = ordered[int(0.999 * size)]
    tail = 0.001 * np.exp(-rate * (stat - anchor))
    return np.clip(np.where(stat > anchor, tail, empirical), 0.0, 1.0)


class RatioDrift(Detector):
    name = "ratio_drift"
    Params = RatioDriftParams
    needs_denominator = True

    def lookback(self, season_length: int) -> int:
        return self.params.reference_days + self.params.monitor_days - 1

    def min_history(self, season_length: int) -> int:
        return self.params.min_reference_days

    def score(self, window: SeriesWindow) -> Scores:
        if window.denominators is None:
            raise ValueError(f"{type(self).__name__} needs denominators (warehouse counts)")
        prm, m = self.params, self.params.monitor_days
        client, warehouse = window.values, window.denominators
        width = client.shape[1]
        ref = slice(0, width - m)
        total = client + warehouse
        valid = np.isfinite(total) & (total > 0)
        nested = nested_counts(client[:, ref], warehouse[:, ref], valid[:, ref], prm.model)
        trials = np.where(nested[:, None], warehouse, total)
        ref_x = np.where(valid[:, ref], client[:, ref], np.nan)
        ref_n = np.where(valid[:, ref], trials[:, ref], np.nan)
        enough = np.sum(valid[:, ref], axis=1) >= prm.min_reference_days
        with np.errstate(all="ignore"):
            p = np.nansum(ref_x, axis=1) / np.nansum(ref_n, axis=1)
        p = np.where(enough & (p > 0) & (p < 1), p, np.nan)
        rho = fit_overdispersion(ref_x, ref_n, p)

        # The chart reads only clean days: a monitored day that is kept out of baselines (flagged, or
        # holding a flagged slice) while it has a value restarts the chart after it.
        mon_x, mon_w = client[:, width - m :], warehouse[:, width - m :]
        recent_x, recent_w = window.recent[:, width - m :], window.recent_denoms[:, width - m :]
        with np.errstate(invalid="ignore"):
            restart = (np.isfinite(recent_x + recent_w) & (recent_x + recent_w > 0)
                       & ~np.isfinite(mon_x + mon_w))
        restart[:, -1] = False
        mon_n = np.where(nested[:, None], mon_w, mon_x + mon_w)
        # The error of p and rho (estimated from the reference) is allowed for by the calibration.
        with np.errstate(all="ignore"):
            sd = np.sqrt(mon_n * (p * (1 - p))[:, None] * (1 + (mon_n - 1) * rho[:, None]))
            residual = mon_x - mon_n * p[:, None]
            z = residual / sd
            z = np.where(np.isfinite(z), z, np.nan)
        stat, sign, start, _ = windowed_cusum(z, prm.k, restart)
        limit, ordered, rate = null_calibration(m, prm.k, prm.arl_days, prm.reference_days)
        p_value = np.where(stat >= limit, null_tail(stat, ordered, rate), 1.0)
        p_value = np.where(np.isfinite(p) & np.isfinite(rho), p_value, np.nan)
        drifting = stat > 0
        cols = np.arange(m)[None, :]
        cumulative = np.nansum(np.where(cols >= start[:, None], residual, 0.0), axis=1)

        x, n = client[:, -1], trials[:, -1]
        with np.errstate(all="ignore"):
            half = prm.interval_z * np.sqrt(n * p * (1 - p) * (1 + (n - 1) * rho))
            x_low, x_high = np.clip(n * p - half, 0, n), np.clip(n * p + half, 0, n)
            expected = np.where(nested, p, p / (1 - p))
            lower = np.where(nested, x_low / n, x_low / (n - x_low))
            upper = np.where(nested, x_high / n, np.where(x_high < n, x_high / (n - x_high), np.inf))
            observed = window.recent[:, -1] / window.recent_denoms[:, -1]
        return Scores(
            expected=expected,
            lower=lower,
            upper=upper,
            score=sign * stat,
            p_value=p_value,
            direction=np.where(drifting, direction_of(observed, expected), 0).astype(np.int8),
            drift_days=np.where(drifting, m - 1 - start, np.nan),
            cumulative_effect=np.where(drifting, cumulative, np.nan),
        )
