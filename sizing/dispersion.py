"""Intervals for a capture over a few days: binomial thinning, widened by the days' extra-binomial spread.

The period's block bootstrap (`sizing.estimate`) resamples weeks of the whole period; it cannot say
how sure one week's capture is (a week is a single block), nor compare two fortnights around a
rollout. For those, each day is taken as a binomial draw of its warehouse events (client ~
Binomial(warehouse, p)) whose rate may also vary from day to day: the quasi-binomial model,
Var(client) = phi * w * p * (1 - p) (Wedderburn 1974, "Quasi-likelihood functions, generalized linear
models, and the Gauss-Newton method"; Williams 1982, "Extra-binomial variation in logistic linear
models"). The dispersion phi is Pearson's X^2 over its degrees of freedom (McCullagh & Nelder 1989,
"Generalized Linear Models", section 4.5.2), with each day's expected count taken from the capture
of its own group (its week, its window), so a change between groups is not read as noise; it is
pooled over all groups of one slice, which gives seven days' weeks a dispersion estimated from the
whole period. phi is never taken below 1: a client cannot be less variable than binomial thinning
(as the bootstrap's floor in `sizing.estimate`). The interval of a group's capture
p = sum(client) / sum(warehouse) is p +- t * sqrt(phi p (1 - p) / sum(warehouse)), t the Student
quantile on the dispersion's degrees of freedom (phi is estimated, not known).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, t as student_t

from sizing.estimate import CONFIDENCE


@dataclass(frozen=True)
class Dispersion:
    """phi (>= 1) and the degrees of freedom it was estimated on (0: none, phi = 1, normal quantile)."""
    phi: float
    df: int

    def quantile(self, confidence: float = CONFIDENCE) -> float:
        upper = 1 - (1 - confidence) / 2
        return float(student_t.ppf(upper, self.df)) if self.df > 0 else float(norm.ppf(upper))


def pooled_dispersion(client: np.ndarray, warehouse: np.ndarray, group: np.ndarray) -> Dispersion:
    """Pearson X^2 / df of daily counts around their group's capture; `group`: one label per day.
    Days without warehouse events, and groups whose capture is 0 or 1 (no binomial spread), add nothing."""
    client, warehouse, group = np.asarray(client, float), np.asarray(warehouse, float), np.asarray(group)
    x2, days, groups = 0.0, 0, 0
    for g in np.unique(group):
        mine = (group == g) & (warehouse > 0)
        c, w = client[mine], warehouse[mine]
        if w.sum() <= 0:
            continue
        p = c.sum() / w.sum()
        if not 0 < p < 1:
            continue
        x2 += float(((c - p * w) ** 2 / (p * (1 - p) * w)).sum())
        days, groups = days + int(mine.sum()), groups + 1
    df = days - groups
    return Dispersion(max(1.0, x2 / df) if df > 0 else 1.0, max(df, 0))


def capture_se(client: float, warehouse: float, dispersion: Dispersion) -> float:
    """Standard error of client / warehouse under the quasi-binomial model (0 when p is 0 or 1)."""
    if warehouse <= 0:
        return float("nan")
    p = min(max(client / warehouse, 0.0), 1.0)
    return float(np.sqrt(dispersion.phi * p * (1 - p) / warehouse))


def capture_interval(client: float, warehouse: float, dispersion: Dispersion,
                     confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The capture's interval, p +- t * se."""
    if warehouse <= 0:
        return float("nan"), float("nan")
    p, half = client / warehouse, dispersion.quantile(confidence) * capture_se(client, warehouse, dispersion)
    return p - half, p + half
