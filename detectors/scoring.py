"""Score one group of whole series on a range of dates: pivot, windows, gaps, holidays, minimum history.

`score_group` is the per-group half of the runner (`detectors.runner`): it turns the rows of some
series into a (series x day) matrix, hands every detector the trailing window ending at each date
being scored, and returns one row per (series, detector spec, date) with the raw scores and a
provisional status. It never looks at other series, so groups can be scored one after another, or
in parallel inside Spark (`detectors.spark_engine`), and give the same rows. Deciding which tested
rows are anomalies needs every series of a (date, detector) at once (false-discovery-rate control),
so that is left to the runner.

The matrix only spans the days some detector can read (the widest lookback before `start`, up to
`end`), so its size follows the window widths, not the length of the stored history. It also carries
which past days were flagged or excluded (`detectors.baseline`): those never feed a baseline. The
runner marks each day's anomalies on the matrix before it scores the next day (`mark`), so a range
is scored exactly as a run of daily calls that read the stored flags.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from detectors.base import Detector, Scores, SeriesWindow, nanmedian, robust_scale
from detectors.baseline import Accepted, clean_history
from detectors.spec import DetectorSpecError

DAILY_SEASON = 7  # weekly seasonality of daily data
CHUNK_ROWS = 2_000  # series scored together in one numpy call
NO_ACCEPTANCE = 1 << 40  # a column no window reaches: the series has no change accepted by a disposition
# Provisional statuses; the runner turns some "ok" rows into "anomaly" after FDR control.
PROVISIONAL_STATUSES = ("ok", "insufficient_history", "holiday", "missing")
RAW_COLUMNS = [
    "series_id", "spec", "detector", "partition", "status", "observed", "expected", "lower", "upper",
    "score", "p_value", "direction", "wobble", "baseline_since", "accepted_today", "drift_start",
    "cumulative_effect", "drift_level", "drift_slope",
]
_DIRECTION = {1: "up", -1: "down"}


@dataclass(frozen=True)
class _Matrix:
    """Rows of a group pivoted to one row per series and one column per day since `origin`."""

    series_ids: np.ndarray
    origin: np.datetime64
    values: np.ndarray  # raw numerators (client counts for ratio rows)
    denominators: np.ndarray | None
    first_day: np.ndarray  # column of each series' first row (negative: before origin)
    flagged: np.ndarray  # (series x day) bool: the series was flagged (an anomaly) that day
    excluded: np.ndarray  # (series x day) bool: left out of baselines (a flagged child, a failed check)
    # A change accepted by a disposition (`detectors.baseline.Accepted`), as columns since `origin`:
    # its first day and the last flagged day it covers; NO_ACCEPTANCE where there is none.
    accepted_since: np.ndarray = None
    accepted_until: np.ndarray = None
    # (series x day) bool: a day a drift finding of the series covered (`Marks.held`)
    held: np.ndarray = None

    def __post_init__(self) -> None:
        n = len(self.series_ids)
        if self.held is None:
            object.__setattr__(self, "held", np.zeros(self.flagged.shape, dtype=bool))
        if self.accepted_since is None:
            object.__setattr__(self, "accepted_since", np.full(n, NO_ACCEPTANCE, dtype=np.int64))
            object.__setattr__(self, "accepted_until", np.full(n, -NO_ACCEPTANCE, dtype=np.int64))

    def mark(self, series_ids, days, *, flagged: bool) -> None:
        """Mark (series, day) pairs of this matrix as flagged (own anomaly) or excluded; others are ignored."""
        self._set(self.flagged if flagged else self.excluded, series_ids, days)

    def hold(self, series_ids, days) -> None:
        """Mark (series, day) pairs as held: days a drift finding of the series covered."""
        self._set(self.held, series_ids, days)

    def _set(self, target: np.ndarray, series_ids, days) -> None:
        rows = pd.Index(self.series_ids).get_indexer(pd.Index(np.asarray(series_ids, dtype=object)))
        cols = (np.asarray(days, dtype="datetime64[D]") - self.origin).astype(np.int64)
        keep = (rows >= 0) & (cols >= 0) & (cols < target.shape[1])
        target[rows[keep], cols[keep]] = True

    def accept(self, series_ids, since, until) -> None:
        """Changes accepted by a disposition: (series, first day of the change, last flagged day covered)."""
        rows = pd.Index(self.series_ids).get_indexer(pd.Index(np.asarray(series_ids, dtype=object)))
        keep = rows >= 0
        self.accepted_since[rows[keep]] = (np.asarray(since, dtype="datetime64[D]") - self.origin).astype(np.int64)[keep]
        self.accepted_until[rows[keep]] = (np.asarray(until, dtype="datetime64[D]") - self.origin).astype(np.int64)[keep]

    def exclude_days(self, days: np.ndarray) -> None:
        """Days left out of every series' baseline (a table's failed check or missing partition)."""
        cols = (np.asarray(days, dtype="datetime64[D]") - self.origin).astype(np.int64)
        cols = cols[(cols >= 0) & (cols < self.excluded.shape[1])]
        self.excluded[:, cols] = True


def as_day(value) -> np.datetime64:
    return np.datetime64(pd.Timestamp(value).date(), "D")


def check_columns(history: pd.DataFrame, detectors: Sequence[Detector]) -> None:
    """Fail early, naming the missing column, before any scoring."""
    missing = {"series_id", "partition", "value"} - set(history.columns)
    if missing:
        raise ValueError(f"history lacks column(s) {sorted(missing)}; it has {list(history.columns)}")
    if "denominator" not in history.columns:
        for det in detectors:
            if det.needs_denominator:
                raise DetectorSpecError(
                    f"detector {det.name!r} tests client/warehouse ratios and needs a 'denominator' column"
                )


def score_group(
    history: pd.DataFrame,
    start: np.datetime64,
    end: np.datetime64,
    detectors: Sequence[Detector],
    holiday_days: np.ndarray,
    marks: "Marks | None" = None,
    accept_after_days: int | None = None,
) -> pd.DataFrame:
    """RAW_COLUMNS for every series of `history` (whole series only), spec and date in [start, end],
    with the baseline exclusions of `marks` held fixed (the runner feeds anomalies back day by day).

    Rows are ordered by date, then spec (its index in `detectors`), then series id. `status` is one of
    PROVISIONAL_STATUSES; `p_value` is set on "ok" rows only (those are the tested ones).
    """
    matrix = pivot_group(history, start, end, detectors)
    if marks is not None:
        marks.apply(matrix)
    frames = [score_day(matrix, day, detectors, holiday_days, accept_after_days)
              for day in np.arange(start, end + np.timedelta64(1, "D"), dtype="datetime64[D]")]
    if not frames:
        return pd.DataFrame(columns=RAW_COLUMNS)
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class Marks:
    """Past flags read from storage: (series_id, partition) frames, and table-wide excluded days."""

    flagged: pd.DataFrame  # the series' own anomalies
    excluded: pd.DataFrame  # days a series rolls a flagged slice up
    excluded_days: np.ndarray  # datetime64[D]: every series
    accepted: pd.DataFrame | None = None  # series_id, since, until: changes accepted by a disposition
    # The days from a found drift's estimated onset up to the day it was found, of that series only
    # (`detectors.runner.held_days`): no baseline learns from them, and no change is accepted from them.
    held: pd.DataFrame | None = None

    def apply(self, matrix: "_Matrix") -> None:
        for frame, own in ((self.flagged, True), (self.excluded, False)):
            if len(frame):
                matrix.mark(frame["series_id"].astype(str).to_numpy(), day_array(frame["partition"]), flagged=own)
        if self.held is not None and len(self.held):
            matrix.hold(self.held["series_id"].astype(str).to_numpy(), day_array(self.held["partition"]))
        matrix.exclude_days(self.excluded_days)
        if self.accepted is not None and len(self.accepted):
            matrix.accept(self.accepted["series_id"].astype(str).to_numpy(), day_array(self.accepted["since"]),
                          day_array(self.accepted["until"]))


def pivot_group(history: pd.DataFrame, start, end, detectors: Sequence[Detector]) -> "_Matrix":
    check_columns(history, detectors)
    return _pivot(history, window_origin(start, detectors), end)


def score_day(matrix: "_Matrix", day, detectors: Sequence[Detector], holiday_days, accept_after_days) -> pd.DataFrame:
    """RAW_COLUMNS of every spec for one day, from the matrix's values and marks as they are now."""
    frames = [_score_day(matrix, day, index, det, holiday_days, accept_after_days)
              for index, det in enumerate(detectors)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RAW_COLUMNS)


def window_origin(start: np.datetime64, detectors: Sequence[Detector]) -> np.datetime64:
    """The earliest day any detector reads when scoring `start`; older rows only say a series exists."""
    widest = max((det.lookback(DAILY_SEASON) + 1 for det in detectors), default=1)
    return start - np.timedelta64(widest - 1, "D")


def _pivot(history: pd.DataFrame, origin: np.datetime64, end: np.datetime64) -> _Matrix:
    """Pivot rows up to `end`; columns start at `origin`, older rows only mark when a series began."""
    days = day_array(history["partition"])
    keep = days <= end
    frame = history if keep.all() else history.loc[keep]
    days = days if keep.all() else days[keep]
    width = int((end - origin).astype(np.int64)) + 1
    if frame.empty:
        return _Matrix(np.array([], dtype=object), origin, np.empty((0, width)), None, np.empty(0, dtype=np.int64),
                       np.zeros((0, width), bool), np.zeros((0, width), bool))
    codes, series_ids = pd.factorize(frame["series_id"].astype(str), sort=True)
    series_ids = np.asarray(series_ids, dtype=object)
    cols = (days - origin).astype(np.int64)  # negative before origin
    _reject_duplicates(frame, codes, cols)
    first_day = np.full(len(series_ids), width, dtype=np.int64)
    np.minimum.at(first_day, codes, cols)
    inside = cols >= 0
    codes, cols = codes[inside], cols[inside]
    values = np.full((len(series_ids), width), np.nan)
    values[codes, cols] = frame["value"].to_numpy(dtype=float)[inside]
    denominators = None
    if "denominator" in frame.columns:
        denominators = np.full_like(values, np.nan)
        denominators[codes, cols] = frame["denominator"].to_numpy(dtype=float)[inside]
    flags = np.zeros(values.shape, dtype=bool)
    return _Matrix(series_ids, origin, values, denominators, first_day, flags, flags.copy())


def _reject_duplicates(frame: pd.DataFrame, codes: np.ndarray, cols: np.ndarray) -> None:
    span = int(cols.max() - cols.min()) + 1
    keys = pd.Index(codes.astype(np.int64) * span + (cols - cols.min()))
    if keys.has_duplicates:
        dup = frame.loc[keys.duplicated(), ["series_id", "partition"]]
        raise ValueError(f"history has duplicate (series_id, partition) rows, e.g. {dup.iloc[0].tolist()}")


def day_array(partitions: pd.Series) -> np.ndarray:
    """Partitions (dates, timestamps or ISO strings) as datetime64[D]."""
    if partitions.dtype == object and len(partitions) and isinstance(partitions.iloc[0], dt.date):
        # Many rows share few dates: convert the distinct dates only.
        codes, uniques = pd.factorize(partitions)
        return pd.to_datetime(pd.Index(uniques)).to_numpy().astype("datetime64[D]")[codes]
    return pd.to_datetime(partitions).to_numpy().astype("datetime64[D]")


def _window(block: np.ndarray, col: int, width: int, fill=np.nan) -> np.ndarray:
    """Columns [col - width + 1, col] of `block`, padded with `fill` on the left before the first column."""
    out = np.full((block.shape[0], width), fill, dtype=block.dtype)
    lo = col - width + 1
    out[:, max(0, -lo):] = block[:, max(0, lo) : col + 1]
    return out


def _score_day(matrix: _Matrix, day, spec_index: int, det: Detector, holiday_days, accept_after_days) -> pd.DataFrame:
    col = int((day - matrix.origin).astype(np.int64))
    present = np.flatnonzero(matrix.first_day <= col)
    observed, history_points, scores, extra = _score_rows(matrix, present, col, day, det, holiday_days, accept_after_days)
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
    shown = np.isin(status, ("ok", "holiday"))
    accepted = extra["accepted_start"] >= 0
    since = day - (det.lookback(DAILY_SEASON) - extra["accepted_start"]).astype("timedelta64[D]")
    return pd.DataFrame(
        {
            "series_id": matrix.series_ids[present],
            "spec": spec_index,
            "detector": det.name,
            "partition": pd.Timestamp(day).date(),
            "status": status,
            "observed": observed,
            "expected": expected,
            "lower": lower,
            "upper": upper,
            "score": score,
            "p_value": np.where(status == "ok", scores.p_value, np.nan),
            "direction": [_DIRECTION.get(int(d)) if s else None for d, s in zip(scores.direction, shown)],
            "wobble": extra["wobble"],
            "baseline_since": [pd.Timestamp(d).date() if a else None for d, a in zip(since, accepted)],
            "accepted_today": extra["accepted_today"],
            "drift_start": [None if not (np.isfinite(d) and s) else pd.Timestamp(day - np.timedelta64(int(d), "D")).date()
                            for d, s in zip(scores.drift_days, shown)],
            "cumulative_effect": np.where(shown, scores.cumulative_effect, np.nan),
            "drift_level": np.where(shown, scores.drift_level, np.nan),
            "drift_slope": np.where(shown, scores.drift_slope, np.nan),
        }
    )


def _score_rows(matrix, present, col, day, det: Detector, holiday_days, accept_after_days):
    """Observed value, usable past points, detector scores and baseline facts of each present series,
    a chunk at a time."""
    n = present.size
    width = det.lookback(DAILY_SEASON) + 1
    window_days = day - np.arange(width - 1, -1, -1).astype("timedelta64[D]")
    past_holiday = np.isin(window_days[:-1], holiday_days)
    observed = np.full(n, np.nan)
    history_points = np.zeros(n, dtype=np.int64)
    extra = {"wobble": np.full(n, np.nan), "accepted_start": np.full(n, -1, dtype=np.int64),
             "accepted_today": np.zeros(n, dtype=bool)}
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
        # Holidays and known events never feed a baseline, nor do flagged days (detectors.baseline).
        flagged = _window(matrix.flagged[rows], col, width, False)[:, :-1]
        excluded = _window(matrix.excluded[rows], col, width, False)[:, :-1] | past_holiday[None, :]
        held = _window(matrix.held[rows], col, width, False)   # a found drift's days
        first = col - width + 1   # the window's first column in the matrix
        accepted = Accepted(matrix.accepted_since[rows] - first, matrix.accepted_until[rows] - first)
        clean = clean_history(flagged, excluded, valid[:, :-1], accept_after_days, accepted, held[:, :-1])
        # Detectors that accumulate evidence over recent days (CUSUM) read those days as they were.
        recent_values, recent_denominators = values.copy(), None if denominators is None else denominators.copy()
        recent_values[:, :-1][:, past_holiday] = np.nan
        values[:, :-1][~clean.usable] = np.nan
        if denominators is not None:
            recent_denominators[:, :-1][:, past_holiday] = np.nan
            denominators[:, :-1][~clean.usable] = np.nan
        history_points[here] = np.sum(valid[:, :-1] & clean.usable, axis=1)
        extra["wobble"][here] = _wobble(values, denominators, det.needs_denominator)
        extra["accepted_start"][here] = clean.accepted_start
        extra["accepted_today"][here] = clean.accepted_today
        # The detector is told which days are out only for that reason (a drift chart still reads them).
        held[:, :-1] &= ~(flagged | excluded)
        held[:, -1] = False
        parts.append(det.score(SeriesWindow(values, denominators, DAILY_SEASON, recent_values, recent_denominators,
                                            held)))
    names = ("expected", "lower", "upper", "score", "p_value", "direction", "drift_days", "cumulative_effect",
             "drift_level", "drift_slope")
    joined = {k: np.concatenate([np.full(p.expected.shape, np.nan) if getattr(p, k) is None else getattr(p, k)
                                 for p in parts]) if parts else np.empty(0) for k in names}
    return observed, history_points, Scores(**joined), extra


def _wobble(values: np.ndarray, denominators: np.ndarray | None, is_ratio_count: bool) -> np.ndarray:
    """How much the series moves from week to week on clean days, relative to its level: the robust
    sigma of same-weekday differences of the level-normalised series (a weekly pattern does not count
    as wobble)."""
    past = values[:, :-1]
    with np.errstate(all="ignore"):
        if is_ratio_count:
            past = past / denominators[:, :-1]
        level = np.abs(nanmedian(past, axis=1)) if past.size else None
        relative = past / level[:, None] if level is not None else past
        diffs = relative[:, DAILY_SEASON:] - relative[:, :-DAILY_SEASON]
    if diffs.shape[1] == 0:
        return np.full(values.shape[0], np.nan)
    return robust_scale(diffs) / np.sqrt(2.0)
