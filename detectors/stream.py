"""Causal scoring of one long regular series point by point, for any sampling interval.

The daily runner (`detectors.runner`) scores one date across many series. Benchmarks and backfills
of minute-level data need the transpose: every point of one series, each scored from its own past.
Both use the same `Detector.score`: here each row of the `SeriesWindow` is one time point's trailing
window (a strided view, copied a chunk at a time so memory stays flat), so a point never sees the
future. The season length is given in points (288 for a daily cycle at 5-minute steps, 1 for none).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from detectors.base import Detector, SeriesWindow

CHUNK_POINTS = 2_000


@dataclass(frozen=True)
class PointScores:
    """Per-point detector output; NaN where the point had too little history to be judged."""

    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    score: np.ndarray
    p_value: np.ndarray
    direction: np.ndarray


def score_points(values: np.ndarray, detector: Detector, season_length: int) -> PointScores:
    """Score every point of a regularly sampled series (NaN = gap) using only the points before it."""
    values = np.asarray(values, dtype=float)
    if season_length < 1:
        raise ValueError(f"season_length must be >= 1 (got {season_length})")
    width = detector.lookback(season_length) + 1
    padded = np.concatenate([np.full(width - 1, np.nan), values])
    windows = sliding_window_view(padded, width)
    past_points = np.concatenate([[0], np.cumsum(np.isfinite(values))[:-1]])
    in_window = past_points - np.concatenate([np.zeros(width - 1), past_points])[: values.size]
    enough = in_window >= detector.min_history(season_length)
    names = ("expected", "lower", "upper", "score", "p_value", "direction")
    out = {name: np.full(values.size, np.nan) for name in names}
    for lo in range(0, values.size, CHUNK_POINTS):
        rows = slice(lo, min(lo + CHUNK_POINTS, values.size))
        scores = detector.score(SeriesWindow(np.array(windows[rows]), None, season_length))
        for name in names:
            out[name][rows] = getattr(scores, name)
    for name in names:
        out[name][~enough] = np.nan
    return PointScores(**out)
