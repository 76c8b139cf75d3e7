"""`estimate_impact`: events under- or over-counted on the slices of the root causes.

For each leaf matched by any cause, the client would have logged about `denominator x baseline
ratio` events; the impact is the observed minus that, summed. Its uncertainty has two sources:

* the baseline capture rate of each leaf, known only from its historical counts. Its posterior is
  Beta(client + m p0, warehouse - client + m (1 - p0)) (binomial thinning of warehouse events), or
  Gamma(client + m p0, warehouse + m) where a leaf historically logged more client than warehouse
  events (duplicates); the weak prior (m = 1 pseudo-event at the pooled rate p0) only matters for
  leaves with little or no history (Gelman et al., *Bayesian Data Analysis*, 3rd ed., ch. 2, 5);
* counting noise of what the client would have logged given that rate: binomial thinning of the
  warehouse events (Beta-binomial overall), or Poisson for over-capturing leaves (Gamma-Poisson).

The count the client would have logged is a sum over many leaves of these independent variables;
its exact mean and variance are summed and the interval is the normal one (central limit theorem
over leaves and events), floored at 0 events.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from rootcause.leaves import numeric_column
from rootcause.model import Impact, RootCause
from rootcause.ratio import baseline_ratio

PRIOR_PSEUDO_EVENTS = 1.0


def estimate_impact(leaves: pd.DataFrame, causes: Sequence[RootCause], *, observed: str, denominator: str,
                    baseline_numerator: str, baseline_denominator: str,
                    confidence: float = 0.9) -> Impact:
    """Events missing (`events` < 0, direction "under") or extra ("over") on the causes' slices.

    `events` = sum over leaves matched by any cause of observed - denominator x baseline ratio, where
    the baseline ratio of a leaf is baseline_numerator / baseline_denominator (pooled over all leaves
    when the leaf has no history). [`lower`, `upper`] is a central `confidence` interval;
    `share_of_total` is `events` over the reported (observed) total of all leaves, or over the
    expected total when nothing was reported. With no causes the impact is 0 and direction "none".
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    observed_counts = numeric_column(leaves, observed)
    warehouse = numeric_column(leaves, denominator)
    history_client = numeric_column(leaves, baseline_numerator)
    history_warehouse = numeric_column(leaves, baseline_denominator)
    for name, values in ((observed, observed_counts), (denominator, warehouse)):
        if (values < 0).any():
            raise ValueError(f"column {name!r} has negative values (min {values.min()!r})")
    ratio = baseline_ratio(leaves, baseline_numerator, baseline_denominator)
    if not causes:
        return Impact(events=0.0, lower=0.0, upper=0.0, share_of_total=0.0, direction="none")

    matched = _matched_leaves(leaves, causes)
    events = float((observed_counts[matched] - warehouse[matched] * ratio[matched]).sum())
    mean, variance = _would_log_moments(history_client[matched], history_warehouse[matched],
                                        warehouse[matched],
                                        pooled=float(history_client.sum() / history_warehouse.sum()))
    spread = float(norm.isf((1 - confidence) / 2)) * np.sqrt(variance)
    low_q, high_q = max(mean - spread, 0.0), max(mean + spread, 0.0)
    observed_total = float(observed_counts[matched].sum())
    lower, upper = observed_total - high_q, observed_total - low_q
    lower, upper = float(min(lower, events)), float(max(upper, events))

    reported = float(observed_counts.sum())
    reference = reported if reported > 0 else float((warehouse * ratio).sum())
    share = events / reference if reference > 0 else 0.0
    return Impact(events=events, lower=lower, upper=upper, share_of_total=share,
                  direction="under" if events < 0 else "over")


def _matched_leaves(leaves: pd.DataFrame, causes: Sequence[RootCause]) -> np.ndarray:
    matched = np.zeros(len(leaves), dtype=bool)
    for cause in causes:
        in_cause = np.ones(len(leaves), dtype=bool)
        for dim, value in cause.elements.items():
            if dim not in leaves.columns:
                raise ValueError(f"cause {cause.label()!r}: dimension column {dim!r} not found in leaves")
            in_cause &= leaves[dim].astype(str).to_numpy() == str(value)
        matched |= in_cause
    return matched


def _would_log_moments(client: np.ndarray, warehouse: np.ndarray, current: np.ndarray,
                       pooled: float) -> tuple[float, float]:
    """Mean and variance of the events the client would have logged on these leaves this period,
    given `current` warehouse events and the historical counts (`client`, `warehouse`)."""
    m = PRIOR_PSEUDO_EVENTS
    prior_rate = min(max(pooled, 1e-9), 1 - 1e-9)
    # Beta posterior of the capture rate; binomial thinning of the current warehouse events.
    alpha = client + m * prior_rate
    beta = np.maximum(warehouse - client, 0.0) + m * (1 - prior_rate)
    total = alpha + beta
    rate_mean = alpha / total
    rate_var = alpha * beta / (total**2 * (total + 1))
    thinning_var = alpha * beta / (total * (total + 1))          # E[p (1 - p)]
    beta_binomial_var = current * thinning_var + current**2 * rate_var
    # Gamma posterior of a rate above 1 (client logged more than the warehouse); Poisson counts.
    shape, rate = client + m * max(pooled, 1e-9), warehouse + m
    gamma_mean = shape / rate
    gamma_poisson_var = current * gamma_mean + current**2 * shape / rate**2
    over = client > warehouse
    mean = np.where(over, gamma_mean, rate_mean) * current
    variance = np.where(over, gamma_poisson_var, beta_binomial_var)
    return float(mean.sum()), float(variance.sum())
