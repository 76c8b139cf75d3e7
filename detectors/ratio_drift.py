"""Slow ratio drifts: a window-limited GLR for a linear ramp against a long clean reference.

A capture rate that slides 0.5% a day never looks unusual on one day, and a pooled window that
includes the drift moves with it. This detector fixes the expected rate p (and the overdispersion
rho, `ratio_binomial.fit_overdispersion`) on a reference of `reference_days` clean days only
(`detectors.baseline`), the latest before the monitoring window within `reference_reach_days`, so
the drift cannot absorb itself.
Each monitored day gives a standardised residual z_t = (x_t - N_t p) / sd_t under the same
beta-binomial model as `ratio_binomial` (nested or independent counts).

The chart (`chart: ramp`, the default) is the generalised likelihood ratio for a change in slope:
after an unknown onset tau the relative rate moves linearly, E[x_t / (N_t p)] - 1 = beta (t - tau),
with beta unknown and of either sign. With c_t = N_t p / sd_t the residual's mean is c_t beta (t - tau),
so for each candidate onset the maximised log-likelihood ratio is S_tau^2 / (2 V_tau), with
S_tau = sum_{t > tau} c_t (t - tau) z_t and V_tau = sum_{t > tau} c_t^2 (t - tau)^2, and beta-hat =
S_tau / V_tau; the statistic is the maximum over the onsets of the monitoring window whose ramp spans at
least `min_ramp_days` days (M. Basseville and I. V. Nikiforov, "Detection of Abrupt Changes: Theory and
Application", Prentice Hall 1993: sec. 2.4, the GLR with unknown change time and magnitude, and ch. 7,
additive changes with a known dynamic profile, here a ramp; the window-limited form is T. L. Lai, "Sequential
changepoint detection in quality control and dynamical systems", JRSS B 57, 1995). A ramp puts most of
its weight on the latest days, where the drift is largest, which is why it finds a linear drift sooner
than Page's CUSUM tuned for a step. `chart: cusum` keeps the earlier chart: Page's two-sided CUSUM of
the z_t with allowance k (E. S. Page, "Continuous Inspection Schemes", Biometrika 41, 1954).

The ramp chart reports the onset tau-hat, the level reached so far beta-hat (T - tau-hat) and the slope
beta-hat (relative to the expected ratio), which the runner's minimum effect reads (`runner.decide`:
a drift is material when its level so far, or its level projected at that slope over
`alerting.drift_horizon_days`, reaches the minimum effect), and the sum of x_t - N_t p since the onset
as the cumulative effect in events.

The chart holds clean days only, like every baseline (`detectors.baseline`): a monitored day that
was flagged (by any detector of the series) or that holds a flagged slice gives no residual. The ramp
chart just skips it (the day still counts in the ramp's time), so an incident's days never feed it
and a drift that has been found keeps being found while it lasts. The CUSUM restarts after such a day,
the textbook restart after a signal: without it an incident's days would keep it above its limit for up
to two weeks after the incident ended; a found drift soon crosses the limit again after each restart.

A drift is found some days after it began, and its days before that were never flagged. Once it is
found, the days from its estimated onset on are kept out of that series' later baselines and do not
count toward accepting a change (`Marks.held`, `detectors.baseline`): left in the reference they would
lower p and widen rho for six weeks, and a drift accepted as the new normal leaves a baseline below
normal once it is fixed, hiding the next drift on the slice. The chart still reads the unflagged ones
while they are in its monitoring window: they are the drift's own evidence, and what keeps it found.

The control limit is not taken from an asymptotic formula: it is set so that, on in-control data,
the mean time between alarm episodes is `arl_days`, by simulating a long in-control sequence (seeded,
cached) through the same steps, estimation of the reference included (`null_calibration`). The
p-value of a day is the simulated probability that the statistic reaches its value (an exponential
tail fitted to the simulated extreme beyond the simulation's resolution); below the limit there is
no evidence (p = 1).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from detectors.base import Detector, DetectorParams, Scores, SeriesWindow, direction_of, latest_days
from scipy import stats

from detectors.ratio_binomial import TRIM, fit_overdispersion, nested_counts

SIMULATED_DAYS = 500_000
SIMULATION_SEED = 20_260_101
CHARTS = ("ramp", "cusum")


@dataclass(frozen=True)
class RatioDriftParams(DetectorParams):
    reference_days: int = 42  # clean days before the monitoring window that fix p and rho
    # Calendar days before the monitoring window the reference may reach back to find them: flagged
    # and held days (`detectors.baseline`) do not shorten it, the calibration's reference length holds.
    reference_reach_days: int = 84
    monitor_days: int = 14  # days the chart accumulates (the current one included)
    chart: str = "ramp"  # ramp: GLR for a linear ramp | cusum: Page's CUSUM (the earlier chart)
    k: float = 0.5  # cusum only: allowance in sigma units
    min_ramp_days: int = 3  # ramp only: the shortest ramp (days since the onset, today included) tested
    clip_z: float = 3.0  # ramp only: residuals are winsorised at +-clip_z sigmas in the statistic (0: off)
    # In-control mean days between false alarm episodes per series, before FDR across slices. 1000
    # finds a 0.5%/day drift on a 1%-noise ratio within 7 days in 19 of 20 seeded series (3650: 10 of 20).
    arl_days: float = 1000.0
    min_reference_days: int = 21
    interval_z: float = 3.0
    model: str = "auto"  # as ratio_binomial: nested | independent | auto

    def check(self) -> None:
        if self.reference_days < 7:
            self.fail("reference_days", "must be at least 7")
        if self.reference_reach_days < self.reference_days:
            self.fail("reference_reach_days", "must be at least reference_days")
        if not 2 <= self.monitor_days <= 60:
            self.fail("monitor_days", "must be between 2 and 60")
        if self.chart not in CHARTS:
            self.fail("chart", f"must be one of {', '.join(CHARTS)}")
        if self.k <= 0:
            self.fail("k", "must be > 0")
        if not 1 <= self.min_ramp_days <= self.monitor_days:
            self.fail("min_ramp_days", "must be between 1 and monitor_days")
        if self.clip_z != 0 and self.clip_z < 1:
            self.fail("clip_z", "must be 0 (off) or at least 1")
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


def ramp_glr(z: np.ndarray, c: np.ndarray, min_ramp: int, restart: np.ndarray | None = None,
             clip: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GLR for a linear ramp ending today over the columns of z (rows: series; module docstring).

    c: each day's signal per unit of relative slope (N_t p / sd_t; 1 for standardised data). A NaN
    residual (a gap or a holiday) adds nothing but time. Onsets before a `restart` day (a day kept out
    of baselines) are not considered. Returns (statistic, ramp length in days k-hat (today included;
    0 where no ramp is testable), slope estimate beta-hat per day in the units of z / c).
    `clip` > 0 winsorises z at +-clip in the statistic (not in beta-hat), so one outlying day cannot
    make a ramp on its own: the ramp weighs today most, and a single day 8 sigmas out (a heavier tail
    than the model's, or a one-day incident) would otherwise cross the limit with no drift behind it
    (Huber's bounded influence, P. J. Huber, "Robust Statistics", Wiley 1981, ch. 1; for control
    charts J. M. Lucas and R. B. Crosier, "Robust CUSUM", Commun. Statist. A 11, 1982).

    The sums are extended one day back at a time: a ramp of k days weighs its onset day 1 and today k,
    so lengthening it by a day adds one to every weight:
    S_{k+1} = S_k + sum(c z over k+1 days) and V_{k+1} = V_k + 2 Q_k + R_{k+1}, Q = sum(c^2 w),
    R = sum(c^2).
    """
    n, m = z.shape
    usable = np.isfinite(z) & np.isfinite(c)
    cz = np.where(usable, c * z, 0.0)
    czc = np.where(usable, c * np.clip(z, -clip, clip), 0.0) if clip > 0 else cz
    cc = np.where(usable, c * c, 0.0)
    allowed = np.ones(n, dtype=bool)
    a = ac = r = s_ = sc = v = q = np.zeros(n)
    best, length, slope = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n)
    for k in range(1, m + 1):
        col = m - k
        if restart is not None and k > 1:
            allowed &= ~restart[:, col]   # a day kept out of baselines: no onset at or before it
        a, ac, r = a + cz[:, col], ac + czc[:, col], r + cc[:, col]
        s_, sc, v, q = s_ + a, sc + ac, v + 2 * q + r, q + r
        if k < min_ramp:
            continue
        with np.errstate(all="ignore"):
            glr = np.where(v > 0, sc * sc / (2 * v), 0.0)
        better = allowed & (glr > best)
        best = np.where(better, glr, best)
        length = np.where(better, k, length)
        with np.errstate(all="ignore"):
            slope = np.where(better, s_ / v, slope)
    return best, length, slope


@lru_cache(maxsize=32)
def null_calibration(monitor_days: int, k: float, arl_days: float, reference_days: int, chart: str = "cusum",
                     min_ramp: int = 1, clip: float = 0.0) -> tuple[float, np.ndarray, float]:
    """(control limit h, sorted simulated daily statistics, fitted tail rate) on in-control data.

    The simulation runs the detector's own steps on a long sequence of iid standard normal daily
    residuals: for every day, the level and the noise scale are estimated from the `reference_days`
    before its monitoring window (the same trimmed mean of absolute deviations as the overdispersion
    fit), and the monitored days are standardised by those estimates. So the limit allows for the
    estimates' error, which repeats on every monitored day and makes the tail heavier than a chart
    with known parameters would have. The ramp chart is simulated with equal daily volumes (c_t = 1);
    its statistic does not depend on the scale of c, only on how much it varies over the window.
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
    if chart == "ramp":
        daily = np.empty(SIMULATED_DAYS)
        for lo in range(0, SIMULATED_DAYS, 100_000):
            hi = min(lo + 100_000, SIMULATED_DAYS)
            steps = (mons[lo:hi] - level[lo:hi, None]) / scale[lo:hi, None]
            daily[lo:hi] = ramp_glr(steps, np.ones_like(steps), min_ramp, clip=clip)[0]
    else:
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
        return self.params.reference_reach_days + self.params.monitor_days - 1

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
        # The limit is simulated for a reference of exactly `reference_days` days (`null_calibration`).
        kept = latest_days(valid[:, ref], prm.reference_days)
        nested = nested_counts(client[:, ref], warehouse[:, ref], kept, prm.model)
        trials = np.where(nested[:, None], warehouse, total)
        ref_x = np.where(kept, client[:, ref], np.nan)
        ref_n = np.where(kept, trials[:, ref], np.nan)
        enough = np.sum(kept, axis=1) >= prm.min_reference_days
        with np.errstate(all="ignore"):
            p = np.nansum(ref_x, axis=1) / np.nansum(ref_n, axis=1)
        p = np.where(enough & (p > 0) & (p < 1), p, np.nan)
        rho = fit_overdispersion(ref_x, ref_n, p)

        # The chart reads only clean days: a monitored day that is kept out of baselines (flagged, or
        # holding a flagged slice) while it has a value restarts the chart after it.
        mon_x, mon_w = client[:, width - m :], warehouse[:, width - m :]
        recent_x, recent_w = window.recent[:, width - m :], window.recent_denoms[:, width - m :]
        if window.held is not None:
            # A found drift's days before it was found are its own evidence: the chart reads them.
            held = window.held[:, width - m :]
            mon_x, mon_w = np.where(held, recent_x, mon_x), np.where(held, recent_w, mon_w)
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
        cols = np.arange(m)[None, :]
        if prm.chart == "ramp":
            with np.errstate(all="ignore"):
                signal = mon_n * p[:, None] / sd   # c_t: z's mean per unit of relative slope and day of ramp
            # Days kept out of baselines have no residual (z is NaN there) and only take up time: the
            # ramp is not restarted after them, so a drift that has been found (its days flagged) keeps
            # being found while it lasts, and an incident's days never feed the chart.
            stat, length, beta = ramp_glr(z, signal, prm.min_ramp_days, None, prm.clip_z)
            limit, ordered, rate = null_calibration(m, 0.0, prm.arl_days, prm.reference_days, "ramp",
                                                    prm.min_ramp_days, prm.clip_z)
            start = m - length
            drifting = (stat > 0) & (length > 0)
            sign = np.where(beta >= 0, 1, -1)
            # The ramp's level so far and its slope, as changes of the share; for independent counts the
            # ratio is client / warehouse = share / (1 - share), which moves more than the share does.
            share_level, share_next = beta * length, beta * (length + 1)
            level = np.where(drifting, _ratio_change(share_level, p, nested), np.nan)
            slope = np.where(drifting, _ratio_change(share_next, p, nested) - level, np.nan)
        else:
            stat, sign, start, _ = windowed_cusum(z, prm.k, restart)
            limit, ordered, rate = null_calibration(m, prm.k, prm.arl_days, prm.reference_days)
            drifting = stat > 0
            level = slope = np.full(stat.shape, np.nan)
        p_value = np.where(stat >= limit, null_tail(stat, ordered, rate), 1.0)
        p_value = np.where(np.isfinite(p) & np.isfinite(rho), p_value, np.nan)
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
            direction=np.where(drifting, sign if prm.chart == "ramp" else direction_of(observed, expected),
                               0).astype(np.int8),
            drift_days=np.where(drifting, m - 1 - start, np.nan),
            cumulative_effect=np.where(drifting, cumulative, np.nan),
            drift_level=level,
            drift_slope=slope,
        )


def _ratio_change(share_change: np.ndarray, p: np.ndarray, nested: np.ndarray) -> np.ndarray:
    """Relative change of the pair's ratio when the client's share p moves by `share_change` (relative):
    the same for nested counts (the ratio is the share); for independent ones the odds' change."""
    with np.errstate(all="ignore"):
        moved = p * (1 + share_change)
        odds = moved / (1 - moved) / (p / (1 - p)) - 1
    return np.where(nested, share_change, odds)
