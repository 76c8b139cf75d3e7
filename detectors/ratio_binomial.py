"""Count-aware test of a client/warehouse ratio: beta-binomial with overdispersion learnt from history.

Conditional on their sum N = client + warehouse, two Poisson counts split binomially: the client
count x is Binomial(N, p) with p = rate_client / (rate_client + rate_warehouse) (the classic
conditional test for comparing two Poisson rates, Przyborowski & Wilenski, Biometrika 31, 1940).
Real pipelines add day-to-day variation in p, so x is modelled as beta-binomial with intra-class
correlation rho: Var(x) = N p (1 - p) (1 + (N - 1) rho) (Williams, "Extra-binomial variation in
logistic linear models", Appl. Stat. 31, 1982). p is pooled over the latest `window_days` clean days
(within `reach_days`, so an incident's flagged days do not leave a short, noisy baseline) and rho is
fitted so that a trimmed mean of absolute Pearson residuals matches the normal's. A 2% gap on 50
events is then noise while the same gap on 5 million events is not,
unless the history itself shows that this ratio wobbles by that much.

When every client event is also a warehouse event (client <= warehouse on every past day, as when the
client count is "warehouse events the client also logged"), the counts are nested, not independent:
x is then Binomial(warehouse, p) thinning of the warehouse count, whose variance N p (1 - p) with
N = warehouse is far smaller than the independent-counts model gives (by a factor of about
(1 - p)(1 + p) for capture rate p; 0.14 at p = 0.93), and that model would miss slow capture drifts.
`model: auto` (the default) uses the nested model for such series and the independent one otherwise;
the overdispersion fit is the same for both.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from detectors.base import Detector, DetectorParams, Scores, SeriesWindow, direction_of, latest_days, nanmedian

# Share of the largest absolute Pearson residuals the overdispersion fit leaves out.
TRIM = 0.1
# The exact beta-binomial tail is used while the count's standard deviation is below this; above it
# the continuity-corrected normal tail is close (a binomial skewness |1 - 2p| / sd below 1/30)
# and the exact sums, a per-element loop in scipy, would dominate the runtime.
EXACT_TAIL_MAX_SD = 30.0
# Variance inflation (N - 1) rho below which the beta-binomial tail is taken as the binomial's.
NEGLIGIBLE_INFLATION = 0.05


@dataclass(frozen=True)
class RatioBinomialParams(DetectorParams):
    window_days: int = 28  # clean past days pooled for p and rho: the latest ones ...
    reach_days: int = 56  # ... within this many days (flagged days do not shorten the baseline)
    min_days: int = 7
    interval_z: float = 3.0
    model: str = "auto"  # nested | independent | auto (nested when client <= warehouse every past day)

    def check(self) -> None:
        if self.model not in ("auto", "nested", "independent"):
            self.fail("model", "must be auto, nested or independent")
        if self.window_days < 3:
            self.fail("window_days", "must be at least 3")
        if not 2 <= self.min_days <= self.window_days:
            self.fail("min_days", "must be between 2 and window_days")
        if self.reach_days < self.window_days:
            self.fail("reach_days", "must be at least window_days")
        if self.interval_z <= 0:
            self.fail("interval_z", "must be > 0")


def fit_overdispersion(x: np.ndarray, n: np.ndarray, p: np.ndarray, iterations: int = 40) -> np.ndarray:
    """rho >= 0 per row such that the trimmed mean of |Pearson residual| / sqrt(1 + (N_t - 1) rho)
    equals its expectation for a standard normal.

    Flagged days are already kept out of the history (`detectors.baseline`), so the fit need not be
    as robust as a median; a mean of absolute residuals without the largest `TRIM` share is far less
    noisy (the mean absolute deviation is 88% efficient for a normal scale, the median 37%: Rousseeuw
    & Croux, JASA 88, 1993), so the interval does not jump as single days enter and leave the window,
    while the trim still ignores a stray unflagged outlier.
    """
    with np.errstate(all="ignore"):
        pearson = np.abs(x - n * p[:, None]) / np.sqrt(n * (p * (1 - p))[:, None])
    finite = np.isfinite(pearson)
    count = finite.sum(axis=1)
    kept = np.maximum(1, np.floor((1 - TRIM) * count)).astype(np.int64)
    share = np.where(count > 0, kept / np.maximum(count, 1), 1.0)
    # E[|Z|; |Z| < c] / P(|Z| < c) for the kept share, c its quantile of |Z|.
    c = stats.norm.ppf((1 + share) / 2)
    target = np.sqrt(2 / np.pi) * (1 - np.exp(-(c**2) / 2)) / share
    rank = np.arange(x.shape[1])[None, :]

    def trimmed_mean(rho: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            scaled = np.sort(np.where(finite, pearson / np.sqrt(1.0 + (n - 1.0) * rho[:, None]), np.inf), axis=1)
        return np.where(rank < kept[:, None], scaled, 0.0).sum(axis=1) / kept

    rows = x.shape[0]
    needs = trimmed_mean(np.zeros(rows)) > target
    # Bisection in log space between 1e-12 and 1; vectorised over series.
    log_low, log_high = np.full(rows, -12.0), np.zeros(rows)
    for _ in range(iterations):
        mid = (log_low + log_high) / 2
        too_small = trimmed_mean(10.0**mid) > target
        log_low = np.where(too_small, mid, log_low)
        log_high = np.where(too_small, log_high, mid)
    rho = np.where(needs, 10.0 ** ((log_low + log_high) / 2), 0.0)
    return np.where(count > 0, rho, np.nan)


def beta_binomial_two_sided(x: np.ndarray, n: np.ndarray, p: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Two-sided p-value of x under BetaBinomial(N, p, rho); exact for a small spread, normal otherwise."""
    out = np.full(x.shape, np.nan)
    ok = np.isfinite(x) & np.isfinite(n) & np.isfinite(p) & np.isfinite(rho) & (n > 0) & (p > 0) & (p < 1)
    with np.errstate(all="ignore"):
        sd = np.sqrt(n * p * (1 - p) * (1 + (n - 1) * rho))
        # Continuity-corrected normal tail.
        z = np.maximum(np.abs(x - n * p) - 0.5, 0) / sd
        out[ok] = 2 * stats.norm.sf(z[ok])
    small = ok & (sd < EXACT_TAIL_MAX_SD)
    # rho = 0 is the plain binomial, whose tail scipy computes as a vectorised incomplete beta; the
    # beta-binomial's goes element by element. Where overdispersion adds under NEGLIGIBLE_INFLATION to
    # the variance, the binomial tail with that variance's rho ignored differs by less than the
    # estimate's own error, so the fast tail is used there too.
    with np.errstate(all="ignore"):
        negligible = (n - 1) * rho < NEGLIGIBLE_INFLATION
    for plain, tail in ((small & negligible, _binomial_tails), (small & ~negligible, _beta_binomial_tails)):
        if plain.any():
            lower, upper = tail(x[plain], np.round(n[plain]), p[plain], rho[plain])
            out[plain] = np.minimum(1.0, 2 * np.minimum(lower, upper))
    return np.minimum(out, 1.0)


def nested_counts(past_client: np.ndarray, past_warehouse: np.ndarray, past_valid: np.ndarray, model: str) -> np.ndarray:
    """Per series: use the nested model (client a subset of warehouse)? `model` auto decides from the past."""
    if model != "auto":
        return np.full(past_client.shape[0], model == "nested")
    with np.errstate(invalid="ignore"):
        subset = np.where(past_valid, past_client <= past_warehouse, True).all(axis=1)
    captured = np.nansum(np.where(past_valid, past_client, np.nan), axis=1)
    lost = np.nansum(np.where(past_valid, past_warehouse - past_client, np.nan), axis=1)
    # Needs some loss on record: at a capture rate of exactly 1 the binomial has no variance.
    return subset & (captured > 0) & (lost > 0)


def _binomial_tails(x, n, p, rho):
    return stats.binom.cdf(x, n, p), stats.binom.sf(x - 1, n, p)


def _beta_binomial_tails(x, n, p, rho):
    """(lower, upper) tails; only the tail on x's side of the mean is summed (scipy sums these one
    element at a time), the other is reported as 1: the smaller tail is on x's side except within a
    point of the centre, where the two-sided p-value is about 1 either way."""
    a, b = p * (1 / rho - 1), (1 - p) * (1 / rho - 1)
    below = x < n * p
    lower, upper = np.ones(x.shape), np.ones(x.shape)
    if below.any():
        lower[below] = stats.betabinom.cdf(x[below], n[below], a[below], b[below])
    if (~below).any():
        upper[~below] = stats.betabinom.sf(x[~below] - 1, n[~below], a[~below], b[~below])
    return lower, upper


class RatioBinomial(Detector):
    name = "ratio_binomial"
    Params = RatioBinomialParams
    needs_denominator = True

    def lookback(self, season_length: int) -> int:
        return self.params.reach_days

    def min_history(self, season_length: int) -> int:
        return self.params.min_days

    def score(self, window: SeriesWindow) -> Scores:
        if window.denominators is None:
            raise ValueError(f"{type(self).__name__} needs denominators (warehouse counts)")
        client, warehouse = window.values, window.denominators
        total = client + warehouse
        valid = np.isfinite(total) & (total > 0)
        valid[:, :-1] = latest_days(valid[:, :-1], self.params.window_days)
        nested = nested_counts(client[:, :-1], warehouse[:, :-1], valid[:, :-1], self.params.model)
        # x ~ BetaBinomial(n, p): n is the warehouse count for nested series, the sum otherwise.
        trials = np.where(nested[:, None], warehouse, total)
        past_x = np.where(valid[:, :-1], client[:, :-1], np.nan)
        past_n = np.where(valid[:, :-1], trials[:, :-1], np.nan)
        with np.errstate(all="ignore"):
            p = np.nansum(past_x, axis=1) / np.nansum(past_n, axis=1)
        p = np.where((p > 0) & (p < 1), p, np.nan)
        rho = fit_overdispersion(past_x, past_n, p)

        x, n = client[:, -1], trials[:, -1]
        p_value = beta_binomial_two_sided(x, n, p, rho)
        with np.errstate(all="ignore"):
            sd = np.sqrt(n * p * (1 - p) * (1 + (n - 1) * rho))
            score = (x - n * p) / sd
            half = self.params.interval_z * sd
            x_low = np.clip(n * p - half, 0, n)
            x_high = np.clip(n * p + half, 0, n)
            # Reported as client / warehouse in both models.
            expected = np.where(nested, p, p / (1 - p))
            lower = np.where(nested, x_low / n, x_low / (n - x_low))
            upper = np.where(nested, x_high / n, np.where(x_high < n, x_high / (n - x_high), np.inf))
            observed = x / warehouse[:, -1]
        return Scores(
            expected=expected,
            lower=lower,
            upper=upper,
            score=score,
            p_value=p_value,
            direction=direction_of(observed, expected),
        )
