"""knn_window: distance of the latest stretch to earlier stretches, scored causally point by point."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.knn_window import KnnWindow, KnnWindowParams
from detectors.spec import DETECTOR_NAMES
from detectors.stream import score_points

PARAMS = KnnWindowParams(embed_points=12, reference_points=600, neighbours=3, min_reference=50)


def cycle(points: int = 2000, period: int = 96, seed: int = 0) -> np.ndarray:
    """A strong cycle with small Gaussian noise: every stretch has near copies one period back."""
    rng = np.random.default_rng(seed)
    t = np.arange(points)
    return 50 + 20 * np.sin(2 * np.pi * t / period) + rng.normal(0, 0.5, points)


def test_a_broken_cycle_scores_far_above_any_normal_stretch():
    values = cycle()
    # hold the value flat for a quarter period at the peak-to-trough stretch: no value is extreme,
    # so a point z-score misses it, but no earlier stretch looks like it
    values[1524:1548] = values[1524]
    scores = score_points(values, KnnWindow(PARAMS), 1).score
    assert np.nanmax(scores[1524:1548]) > 3 * np.nanmax(scores[800:1500])


def test_a_spike_is_the_highest_score_and_its_expected_value_follows_the_cycle():
    values = cycle(seed=1)
    clean = values[1700]
    values[1700] += 15
    scores = score_points(values, KnnWindow(PARAMS), 1)
    # (the first stretches, before a full period is in the reference, have no near copy either)
    assert 1000 + np.nanargmax(scores.score[1000:]) == 1700
    assert abs(scores.expected[1700] - clean) < 3
    assert scores.direction[1700] == 1


def test_scores_of_a_prefix_do_not_change_when_the_future_arrives():
    values = cycle(seed=2)
    full = score_points(values, KnnWindow(PARAMS), 1).score
    prefix = score_points(values[:1200], KnnWindow(PARAMS), 1).score
    np.testing.assert_allclose(full[:1200], prefix, rtol=1e-9, equal_nan=True)


def test_no_verdict_without_enough_reference_and_windows_with_gaps_are_skipped():
    values = cycle(seed=3)
    values[900:905] = np.nan
    scores = score_points(values, KnnWindow(PARAMS), 1).score
    assert np.isnan(scores[: 2 * PARAMS.embed_points + PARAMS.min_reference - 1]).all()
    assert np.isnan(scores[900:916]).all()  # the query itself holds a gap
    assert np.isfinite(scores[916:]).all()


def test_unit_free_scores_are_the_same_after_rescaling_the_series():
    values = cycle(seed=4)
    small = score_points(values, KnnWindow(PARAMS), 1).score
    large = score_points(1000 * values + 7, KnnWindow(PARAMS), 1).score
    np.testing.assert_allclose(small, large, rtol=1e-5, equal_nan=True)


@pytest.mark.parametrize(
    "params, bad",
    [
        ({"embed_points": 0}, "embed_points"),
        ({"neighbours": 0}, "neighbours"),
        ({"reference_points": 2, "neighbours": 3, "min_reference": 3}, "reference_points"),
        ({"min_reference": 1}, "min_reference"),
    ],
)
def test_bad_parameters_are_named(params, bad):
    with pytest.raises(ValueError, match=f"KnnWindowParams.{bad}"):
        KnnWindowParams(**params)


def test_it_stays_out_of_the_daily_registry_which_needs_p_values():
    assert KnnWindow.name not in DETECTOR_NAMES
