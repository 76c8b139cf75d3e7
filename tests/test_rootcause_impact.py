"""Impact estimate of a client-vs-warehouse discrepancy on seeded synthetic leaves."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from rootcause import RootCause, estimate_impact, localize_ratio

DIMENSIONS = ["platform", "app_version", "country"]
VALUES = [["android", "ios", "web"], ["9.0", "10.0", "11.0"], ["US", "DE", "FR", "BR", "IN", "JP"]]
COLUMNS = dict(observed="client", denominator="warehouse", baseline_numerator="client_history",
               baseline_denominator="warehouse_history")


def leaves_with_loss(seed: int, loss: float, broken: dict[str, str]) -> tuple[pd.DataFrame, int]:
    """Leaves whose client logs each warehouse event with a leaf-specific rate; on `broken` the
    client additionally drops a `loss` share of what it would have logged (> 1: duplicates).
    Returns the leaves and the true number of events lost (negative) or added."""
    rng = np.random.default_rng(seed)
    leaves = pd.DataFrame(list(itertools.product(*VALUES)), columns=DIMENSIONS)
    traffic = rng.lognormal(7.0, 1.0, size=len(leaves))
    capture = rng.uniform(0.85, 0.98, size=len(leaves))
    leaves["warehouse_history"] = rng.poisson(traffic * 28)
    leaves["client_history"] = rng.binomial(leaves["warehouse_history"], capture)
    leaves["warehouse"] = rng.poisson(traffic)
    would_log = rng.binomial(leaves["warehouse"], capture)
    hit = np.logical_and.reduce([leaves[dim].to_numpy() == value for dim, value in broken.items()])
    if loss <= 1:
        logged = np.where(hit, rng.binomial(would_log, 1 - loss), would_log)
    else:
        logged = np.where(hit, would_log + rng.poisson(would_log * (loss - 1)), would_log)
    leaves["client"] = logged
    return leaves, int((logged - would_log)[hit].sum())


def test_interval_contains_the_lost_events_and_says_under_counted():
    leaves, lost = leaves_with_loss(3, loss=0.3, broken={"platform": "android", "app_version": "10.0"})
    causes = localize_ratio(leaves, DIMENSIONS, numerator="client", denominator="warehouse",
                            baseline_numerator="client_history", baseline_denominator="warehouse_history")

    impact = estimate_impact(leaves, causes, **COLUMNS)

    assert [cause.label() for cause in causes] == ["platform=android & app_version=10.0"]
    assert lost < 0
    assert impact.direction == "under"
    assert impact.lower <= lost <= impact.upper
    assert impact.lower <= impact.events <= impact.upper < 0
    assert impact.share_of_total == pytest.approx(impact.events / leaves["client"].sum())


def test_duplicated_events_are_over_counted():
    leaves, added = leaves_with_loss(5, loss=1.4, broken={"country": "BR"})
    cause = RootCause(elements={"country": "BR"}, share=1.0, confidence=1.0, observed=0.0, expected=0.0)

    impact = estimate_impact(leaves, [cause], **COLUMNS)

    assert added > 0
    assert impact.direction == "over"
    assert impact.lower <= added <= impact.upper
    assert impact.share_of_total > 0


@pytest.mark.parametrize("seed", range(20))
def test_a_90_percent_interval_covers_the_truth_in_most_seeded_cubes(seed):
    # Coverage is checked across seeds in the aggregate test below; here each interval must at least
    # be ordered and contain the point estimate.
    leaves, _ = leaves_with_loss(seed, loss=0.2, broken={"platform": "ios"})
    cause = RootCause(elements={"platform": "ios"}, share=1.0, confidence=1.0, observed=0.0, expected=0.0)

    impact = estimate_impact(leaves, [cause], **COLUMNS)

    assert impact.lower <= impact.events <= impact.upper


def test_interval_coverage_is_close_to_the_requested_confidence():
    cause = RootCause(elements={"platform": "ios"}, share=1.0, confidence=1.0, observed=0.0, expected=0.0)
    covered = 0
    for seed in range(100):
        leaves, lost = leaves_with_loss(seed, loss=0.2, broken={"platform": "ios"})
        impact = estimate_impact(leaves, [cause], **COLUMNS)
        covered += impact.lower <= lost <= impact.upper
    assert 80 <= covered <= 99


def test_wider_confidence_gives_a_wider_interval():
    leaves, _ = leaves_with_loss(8, loss=0.3, broken={"country": "JP"})
    cause = RootCause(elements={"country": "JP"}, share=1.0, confidence=1.0, observed=0.0, expected=0.0)

    narrow = estimate_impact(leaves, [cause], **COLUMNS, confidence=0.5)
    wide = estimate_impact(leaves, [cause], **COLUMNS, confidence=0.99)

    assert wide.lower < narrow.lower <= narrow.upper < wide.upper
    assert wide.events == narrow.events


def test_no_causes_means_no_impact():
    leaves, _ = leaves_with_loss(1, loss=0.3, broken={"country": "JP"})

    impact = estimate_impact(leaves, [], **COLUMNS)

    assert (impact.events, impact.lower, impact.upper, impact.direction) == (0.0, 0.0, 0.0, "none")


def test_a_cause_on_an_unknown_dimension_is_named_in_the_error():
    leaves, _ = leaves_with_loss(1, loss=0.3, broken={"country": "JP"})
    cause = RootCause(elements={"os": "ios"}, share=1.0, confidence=1.0, observed=0.0, expected=0.0)

    with pytest.raises(ValueError, match="'os'"):
        estimate_impact(leaves, [cause], **COLUMNS)


def test_a_missing_baseline_column_is_named_in_the_error():
    leaves, _ = leaves_with_loss(1, loss=0.3, broken={"country": "JP"})
    cause = RootCause(elements={"country": "JP"}, share=1.0, confidence=1.0, observed=0.0, expected=0.0)

    with pytest.raises(ValueError, match="'client_history'"):
        estimate_impact(leaves.drop(columns=["client_history"]), [cause], **COLUMNS)
