"""Per-point streaming scores (used for minute-level data and NAB) are causal and find what they should."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.spec import DETECTOR_NAMES, build_detector
from detectors.stream import score_points

POINT_DETECTORS = [name for name in DETECTOR_NAMES if name not in ("ratio_binomial", "ratio_drift", "holt_winters")]


def five_minute_series(days: int = 6, seed: int = 0) -> np.ndarray:
    """A daily cycle at 5-minute steps (288 points a day) with Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * 288)
    return 100 + 20 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 2, t.size)


@pytest.mark.parametrize("name", POINT_DETECTORS)
def test_scores_of_a_prefix_do_not_change_when_the_future_arrives(name):
    values = five_minute_series()
    detector = build_detector(name, {})
    full = score_points(values, detector, 288)
    prefix = score_points(values[:1500], detector, 288)
    np.testing.assert_array_equal(full.p_value[:1500], prefix.p_value)
    np.testing.assert_array_equal(full.expected[:1500], prefix.expected)


def test_a_spike_in_a_daily_cycle_is_the_most_significant_point():
    values = five_minute_series()
    values[1500] += 25
    scores = score_points(values, build_detector("seasonal_mad", {"window_weeks": 4}), 288)
    assert np.nanargmin(scores.p_value) == 1500
    assert scores.direction[1500] == 1
    assert np.isnan(scores.p_value[: 3 * 288]).all()  # too little history: no verdict, not "ok"


def test_a_level_shift_is_found_by_changepoint_within_a_few_points():
    rng = np.random.default_rng(1)
    values = rng.normal(50, 1, 600)
    values[500:] += 6
    scores = score_points(values, build_detector("changepoint", {"window_weeks": 100}), 1)
    assert scores.p_value[500:506].min() < 1e-6
    assert np.nanmin(scores.p_value[200:500]) > 1e-4
