"""Ratio metrics (e.g. client / warehouse events): expected numerators from a baseline ratio.

A ratio cannot be summed over leaves, so its numerator and denominator are kept apart. Following
the treatment of derived measures in Squeeze (Li et al., ISSRE 2019, section on derived measures) and
RiskLoc (Kalander, 2022), the expected numerator of a leaf is its current denominator times the leaf's
baseline ratio; localisation then runs on the (additive) numerators.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from rootcause.leaves import numeric_column
from rootcause.localize import localize
from rootcause.model import RootCause


def baseline_ratio(leaves: pd.DataFrame, baseline_numerator: str, baseline_denominator: str) -> np.ndarray:
    """Per-leaf historical ratio; leaves without history fall back to the pooled ratio of all leaves."""
    numerator = numeric_column(leaves, baseline_numerator)
    denominator = numeric_column(leaves, baseline_denominator)
    for name, values in ((baseline_numerator, numerator), (baseline_denominator, denominator)):
        if (values < 0).any():
            raise ValueError(f"column {name!r} has negative values (min {values.min()!r})")
    total = denominator.sum()
    if total <= 0:
        raise ValueError(f"column {baseline_denominator!r} sums to 0: there is no baseline to compare with")
    pooled = numerator.sum() / total
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(denominator > 0, numerator / denominator, pooled)
    return ratio


def forecast_share(leaves: pd.DataFrame, *, denominator: str, baseline_denominator: str) -> np.ndarray:
    """Per leaf, the variance of the expected numerator's error as a share of the observed
    numerator's: today's denominator over the baseline's (delta method: the expected numerator is
    D x N_b / D_b, whose variance D^2 var(N_b) / D_b^2 is that of one day's numerator times D / D_b
    when the baseline's days are like today). A leaf without history takes the pooled ratio, whose
    baseline is every leaf's."""
    today = numeric_column(leaves, denominator)
    history = numeric_column(leaves, baseline_denominator)
    total = history.sum()
    if total <= 0:
        raise ValueError(f"column {baseline_denominator!r} sums to 0: there is no baseline to compare with")
    return today / np.where(history > 0, history, total)


def expected_numerator(leaves: pd.DataFrame, *, denominator: str, baseline_numerator: str,
                       baseline_denominator: str) -> np.ndarray:
    """Current denominator x baseline ratio, per leaf."""
    return numeric_column(leaves, denominator) * baseline_ratio(leaves, baseline_numerator, baseline_denominator)


def localize_ratio(leaves: pd.DataFrame, dimensions: Sequence[str], *, numerator: str, denominator: str,
                   baseline_numerator: str, baseline_denominator: str,
                   max_causes: int = 5) -> list[RootCause]:
    """Root causes of a change in numerator / denominator against its baseline ratio.

    Localises on numerators: observed `numerator` against `denominator` x baseline ratio, so a slice
    is blamed for the events its ratio moved, not for changes in its traffic. The expected numerator
    is as precise as its baseline (`forecast_share`), so leaves are judged against it.
    """
    if isinstance(dimensions, str):
        raise ValueError(f"dimensions must be a sequence of column names, got the string {dimensions!r}")
    missing = [dim for dim in dimensions if dim not in leaves.columns]
    if missing:
        raise ValueError(f"dimension column {missing[0]!r} not found in leaves (columns: {list(leaves.columns)})")
    expected = expected_numerator(leaves, denominator=denominator, baseline_numerator=baseline_numerator,
                                  baseline_denominator=baseline_denominator)
    frame = pd.DataFrame({dim: leaves[dim].to_numpy() for dim in dimensions})
    frame["__observed"] = numeric_column(leaves, numerator)
    frame["__expected"] = expected
    frame["__forecast_share"] = forecast_share(leaves, denominator=denominator,
                                               baseline_denominator=baseline_denominator)
    return localize(frame, dimensions, real="__observed", predict="__expected", max_causes=max_causes,
                    forecast_share="__forecast_share")
