"""The one runner: ordering, gaps, windows, holidays, minimum history and score -> anomaly decisions.

`evaluate` scores one date; `evaluate_range` scores every date of a range, each one causally, and is
by construction the same computation as calling `evaluate` per date: both turn the history into a
(series x day) matrix and hand each detector the trailing window ending at the date being scored.
Series are processed in chunks of rows, so memory grows with the history matrix, not with the
number of detectors or the window widths.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Collection, Sequence

import numpy as np
import pandas as pd

from detectors.base import Detector, Scores, SeriesWindow
from detectors.fdr import benjamini_hochberg
from detectors.spec import DetectorSpec, DetectorSpecError

DAILY_SEASON = 7  # weekly seasonality of daily data
CHUNK_ROWS = 2_000
# Per-test level used when the caller turns FDR control off (fdr_q=None).
UNCORRECTED_ALPHA = 0.05
STATUSES = ("anomaly", "ok", "insufficient_history", "holiday", "missing")
OUTPUT_COLUMNS = [
    "series_id", "detector", "partition", "status", "observed", "expected", "lower", "upper",
    "score", "p_value", "q_value", "direction",
]
_DIRECTION = {1: "up", -1: "down"}


@dataclass(frozen=True)
class _Matrix:
    """History pivoted to one row per series and one column per day since `origin`."""

    series_ids: np.ndarray
    origin: np.datetime64
    values: np.ndarray  # raw numerators (client counts for ratio rows)
    denominators: np.ndarray | None
    first_day: np.ndarray  # column of each series' first row: a series exists from there on


def evaluate(
    history: pd.DataFrame,
    at: dt.date,
    specs: Sequence[DetectorSpec],
    *,
    holidays: Collection[dt.date] = (),
    fdr_q: float | None = 0.05,
    min_relative_effect: float = 0.0,
    min_absolute_effect: float = 0.0,
) -> pd.DataFrame:
    """One row per (series_id, detector) for date `at`, using rows with partition <= `at` only."""
    return evaluate_range(
        history, at, at, specs, holidays=holidays, fdr_q=fdr_q,
        min_relative_effect=min_relative_effect, min_absolute_effect=min_absolute_effect,
    )


def evaluate_range(
    history: pd.DataFrame,
    start: dt.date,
    end: dt.date,
    specs: Sequence[DetectorSpec],
    *,
    holidays: Collection[dt.date] = (),
    fdr_q: float | None = 0.05,
    min_relative_effect: float = 0.0,
    min_absolute_effect: float = 0.0,
) -> pd.DataFrame:
    """`evaluate` for every date in [start, end], each scored from the rows up to that date only."""
    detectors = [spec.build() for spec in specs]
    if fdr_q is not None and not 0 < fdr_q <= 1:
        raise ValueError(f"fdr_q must be in (0, 1] or None (got {fdr_q!r})")
    if min_relative_effect < 0 or min_absolute_effect < 0:
        raise ValueError(
            f"minimum effects must be >= 0 (got relative={min_relative_effect!r}, absolute={min_absolute_effect!r})"
        )
    start, end = _as_day(start), _as_day(end)
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    matrix = _pivot(history, end)
    if matrix.denominators is None:
        for det in detectors:
            if det.needs_denominator:
                raise DetectorSpecError(
                    f"detector {det.name!r} tests client/warehouse ratios and needs a 'denominator' column"
                )
    holiday_days = np.array(sorted({_as_day(h) for h in holidays}), dtype="datetime64[D]")
    frames = []
    for day in np.arange(start, end + np.timedelta64(1, "D"), dtype="datetime64[D]"):
        for det in detectors:
            frames.append(
                _score_day(matrix, day, det, holiday_days, fdr_q, min_relative_effect, min_absolute_effect)
            )
    if not frames:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    return pd.concat(frames, ignore_index=True)[OUTPUT_COLUMNS]


def _as_day(value) -> np.datetime64:
    return np.datetime64(pd.Timestamp(value).date(), "D")


def _pivot(history: pd.DataFrame, end: np.datetime64) -> _Matrix:
    missing = {"series_id", "partition", "value"} - set(history.columns)
    if missing:
        raise ValueError(f"history lacks column(s) {sorted(missing)}; it has {list(history.columns)}")
    days = _day_array(history["partition"])
    keep = days <= end
    frame = history if keep.all() else history.loc[keep]
    days = days if keep.all() else days[keep]
    if frame.empty:
        return _Matrix(np.array([], dtype=object), end, np.empty((0, 1)), None, np.empty(0, dtype=np.int64))
    codes, series_ids = pd.factorize(frame["series_id"], sort=True)
    series_ids = np.asarray(series_ids).astype(str).astype(object)
    origin = days.min()
    cols = (days - origin).astype(np.int64)
    width = int((end - origin).astype(np.int64)) + 1
    seen = np.zeros((len(series_ids), width), dtype=bool)
    seen[codes, cols] = True
    if int(seen.sum()) != len(codes):
        keys = pd.Series(codes.astype(np.int64) * width + cols)
        dup = frame.loc[keys.duplicated().to_numpy(), ["series_id", "partition"]]
        raise ValueError(f"history has duplicate (series_id, partition) rows, e.g. {dup.iloc[0].tolist()}")
    del seen
    values = np.full((len(series_ids), width), np.nan)
    values[codes, cols] = frame["value"].to_numpy(dtype=float)
    denominators = None
    if "denominator" in frame.columns:
        denominators = np.full_like(values, np.nan)
        denominators[codes, cols] = frame["denominator"].to_numpy(dtype=float)
    first_day = np.full(len(series_ids), width, dtype=np.int64)
    np.minimum.at(first_day, codes, cols)
    return _Matrix(np.asarray(series_ids, dtype=object), origin, values, denominators, first_day)


def _day_array(partitions: pd.Series) -> np.ndarray:
    """Partitions (dates, timestamps or ISO strings) as datetime64[D]."""
    if partitions.dtype == object and len(partitions) and isinstance(partitions.iloc[0], dt.date):
        # Many rows share few dates: convert the distinct dates only.
        codes, uniques = pd.factorize(partitions)
        return pd.to_datetime(pd.Index(uniques)).to_numpy().astype("datetime64[D]")[codes]
    return pd.to_datetime(partitions).to_numpy().astype("datetime64[D]")


def _window(block: np.ndarray, col: int, width: int) -> np.ndarray:
    """Columns [col - width + 1, col] of `block`, NaN-padded on the left before the first day."""
    out = np.full((block.shape[0], width), np.nan)
    lo = col - width + 1
    out[:, max(0, -lo):] = block[:, max(0, lo) : col + 1]
    return out


def _score_day(matrix, day, det: Detector, holiday_days, fdr_q, min_rel, min_abs) -> pd.DataFrame:
    col = int((day - matrix.origin).astype(np.int64))
    present = np.flatnonzero(matrix.first_day <= col) if col >= 0 else np.array([], dtype=np.int64)
    observed, history_points, scores = _score_rows(matrix, present, col, day, det, holiday_days)
    status = np.full(present.size, "ok", dtype=object)
    status[history_points < det.min_history(DAILY_SEASON)] = "insufficient_history"
    # A detector that cannot form a baseline from what history there is (all-zero counts, say)
    # gives no p-value: that is too little usable history, not an all-clear.
    status[~np.isfinite(scores.p_value)] = "insufficient_history"
    status[~np.isfinite(observed)] = "missing"
    if np.isin(day, holiday_days):
        status[:] = np.where(np.isfinite(observed), "holiday", "missing")
    insufficient = status == "insufficient_history"
    expected, lower, upper, score = (
        np.where(insufficient, np.nan, getattr(scores, k)) for k in ("expected", "lower", "upper", "score")
    )
    tested = status == "ok"
    p_value = np.where(tested, scores.p_value, np.nan)
    if fdr_q is None:
        q_value, level = p_value, UNCORRECTED_ALPHA
    else:
        q_value, level = benjamini_hochberg(p_value), fdr_q
    effect = np.abs(observed - expected)
    with np.errstate(invalid="ignore"):
        big_enough = (effect >= min_abs) & (effect >= min_rel * np.abs(expected))
    status[tested & (q_value <= level) & big_enough] = "anomaly"
    shown = np.isin(status, ("ok", "anomaly", "holiday"))
    return pd.DataFrame(
        {
            "series_id": matrix.series_ids[present],
            "detector": det.name,
            "partition": pd.Timestamp(day).date(),
            "status": status,
            "observed": observed,
            "expected": expected,
            "lower": lower,
            "upper": upper,
            "score": score,
            "p_value": p_value,
            "q_value": q_value,
            "direction": [_DIRECTION.get(int(d)) if s else None for d, s in zip(scores.direction, shown)],
        }
    )


def _score_rows(matrix, present, col, day, det: Detector, holiday_days) -> tuple[np.ndarray, np.ndarray, Scores]:
    """Observed value, usable past points and detector scores of each present series, a chunk at a time."""
    n = present.size
    width = det.lookback(DAILY_SEASON) + 1
    window_days = day - np.arange(width - 1, -1, -1).astype("timedelta64[D]")
    past_holiday = np.isin(window_days[:-1], holiday_days)
    observed = np.full(n, np.nan)
    history_points = np.zeros(n, dtype=np.int64)
    parts: list[Scores] = []
    for lo in range(0, n, CHUNK_ROWS):
        rows = present[lo : lo + CHUNK_ROWS]
        here = slice(lo, lo + rows.size)
        values = _window(matrix.values[rows], col, width)
        denominators = None if matrix.denominators is None else _window(matrix.denominators[rows], col, width)
        with np.errstate(all="ignore"):
            if det.needs_denominator:
                values = np.where(np.isfinite(denominators), values, np.nan)
                valid = np.isfinite(values) & (values + denominators > 0)
                observed[here] = values[:, -1] / denominators[:, -1]
            else:
                if denominators is not None:  # a ratio series: count detectors run on the ratio
                    values = np.where(np.isnan(denominators), values, values / denominators)
                valid = np.isfinite(values)
                observed[here] = values[:, -1]
        # Holidays and known events never feed a baseline.
        values[:, :-1][:, past_holiday] = np.nan
        if denominators is not None:
            denominators[:, :-1][:, past_holiday] = np.nan
        history_points[here] = np.sum(valid[:, :-1] & ~past_holiday, axis=1)
        parts.append(det.score(SeriesWindow(values, denominators, DAILY_SEASON)))
    names = ("expected", "lower", "upper", "score", "p_value", "direction")
    joined = {k: np.concatenate([getattr(p, k) for p in parts]) if parts else np.empty(0) for k in names}
    return observed, history_points, Scores(**joined)
