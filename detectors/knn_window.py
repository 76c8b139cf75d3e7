"""Nearest-neighbour distance of the latest stretch of a series to the stretches seen before it.

The last `embed_points` values (the point under test and the ones just before it) form a vector; its
nonconformity is the mean Euclidean distance to its `neighbours` nearest vectors among the
`reference_points` windows of the same length that ended earlier and do not overlap it. A shape the
series has produced before (a daily cycle, a recurring burst) is near some past window however large
its values are; a spike, a broken cycle or a new level is far from all of them. This is the
k-nearest-neighbour nonconformity over lag-embedded windows of Ishimtsev, Bernstein, Burnaev &
Nazarov, "Conformal k-NN Anomaly Detector for Univariate Data Streams", COPA 2017, PMLR 60 (and
Burnaev & Ishimtsev, arXiv:1608.04585; the KNN CAD entry of the Numenta Anomaly Benchmark), without
their conformal step, which a caller applies to the score stream (`bench.nab.run.tail_p_values`).

Distances use |q - b|^2 = |q|^2 + |b|^2 - 2 q.b with window sums of squares from a running sum, so one
row costs a single matrix-vector product. Windows containing a gap are never neighbours. The score is
the distance divided by sqrt(embed_points) times the robust scale of the reference's first
differences, a unit-free number comparable across series; `expected` is the last value of the nearest
earlier window, the analogue of the point under test. No null distribution is
assumed, so `p_value` is NaN: this detector is for streams whose scores are calibrated against their
own past, not for the daily runner's FDR step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from detectors.base import Detector, DetectorParams, Scores, SeriesWindow, direction_of, robust_scale

ROW_BLOCK = 128  # rows per batched product: bounds the (rows, windows, embed) temporary


@dataclass(frozen=True)
class KnnWindowParams(DetectorParams):
    embed_points: int = 20  # length of the compared windows
    reference_points: int = 2000  # how many earlier windows to search
    neighbours: int = 3  # distance is the mean over this many nearest windows
    min_reference: int = 50  # fewest gap-free reference windows for a verdict

    def check(self) -> None:
        if self.embed_points < 1:
            self.fail("embed_points", "must be >= 1")
        if self.neighbours < 1:
            self.fail("neighbours", "must be >= 1")
        if self.reference_points < self.neighbours:
            self.fail("reference_points", "must be >= neighbours")
        if not self.neighbours <= self.min_reference <= self.reference_points:
            self.fail("min_reference", "must be between neighbours and reference_points")


class KnnWindow(Detector):
    name = "knn_window"
    Params = KnnWindowParams

    def lookback(self, season_length: int) -> int:
        # reference windows end at least embed_points before the current point: no overlap with it
        return self.params.reference_points + 2 * self.params.embed_points - 2

    def min_history(self, season_length: int) -> int:
        return 2 * self.params.embed_points + self.params.min_reference - 1

    def score(self, window: SeriesWindow) -> Scores:
        values = np.asarray(window.values, dtype=float)
        n = values.shape[0]
        out = {name: np.full(n, np.nan) for name in ("expected", "score")}
        for lo in range(0, n, ROW_BLOCK):
            rows = slice(lo, min(lo + ROW_BLOCK, n))
            expected, score = self._block(values[rows])
            out["expected"][rows] = expected
            out["score"][rows] = score
        current = values[:, -1]
        return Scores(
            expected=out["expected"],
            lower=np.full(n, np.nan),
            upper=np.full(n, np.nan),
            score=out["score"],
            p_value=np.full(n, np.nan),
            direction=direction_of(current, out["expected"]),
        )

    def _block(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m, k = self.params.embed_points, self.params.neighbours
        query = values[:, -m:]
        reference = values[:, : values.shape[1] - m]
        gaps = np.isnan(reference)
        filled = np.where(gaps, 0.0, reference)
        # window sums of squares and of gap counts from running sums
        zero = np.zeros((values.shape[0], 1))
        running_sq = np.concatenate([zero, np.cumsum(filled**2, axis=1)], axis=1)
        running_gaps = np.concatenate([zero, np.cumsum(gaps, axis=1)], axis=1)
        window_sq = running_sq[:, m:] - running_sq[:, :-m]
        window_gaps = running_gaps[:, m:] - running_gaps[:, :-m]
        windows = sliding_window_view(filled, m, axis=1)  # (rows, n_windows, m)
        dot = np.matmul(windows, np.nan_to_num(query)[:, :, None])[:, :, 0]
        d2 = np.maximum(window_sq - 2.0 * dot + np.nansum(query**2, axis=1, keepdims=True), 0.0)
        usable = (window_gaps == 0) & ~np.isnan(query).any(axis=1, keepdims=True)
        d2 = np.where(usable, d2, np.inf)
        enough = usable.sum(axis=1) >= self.params.min_reference
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]
        distance = np.sqrt(np.take_along_axis(d2, nearest, axis=1)).mean(axis=1)
        closest = nearest[np.arange(d2.shape[0]), np.argmin(np.take_along_axis(d2, nearest, axis=1), axis=1)]
        expected = reference[np.arange(d2.shape[0]), closest + m - 1]
        scale = robust_scale(np.diff(reference, axis=1)) * np.sqrt(m)
        with np.errstate(all="ignore"):
            score = np.where(scale > 0, distance / scale, np.where(distance > 0, np.inf, 0.0))
        return np.where(enough, expected, np.nan), np.where(enough, score, np.nan)
