"""The one runner: groups of series -> detector scores -> FDR across all series -> anomaly decisions.

`evaluate` scores one date; `evaluate_range` scores every date of a range, each one causally, and is
by construction the same computation as calling `evaluate` per date.

Scoring is split in two so memory stays flat however many series there are:

1. Series are scored a group at a time (`group_series` whole series per group; `detectors.scoring`):
   pivot the group to a (series x day) matrix, run every detector over it, keep only the small
   per-series result (one row per series, detector and date). On the local engine the groups come
   one after another from a pandas DataFrame or from an iterable of DataFrames each holding whole
   series, so a caller can stream series from storage without ever holding the full history. On the
   Spark engine the groups are hash buckets of series_id scored by `applyInPandas` on the executors
   (`detectors.spark_engine`).
2. Benjamini-Hochberg (`detectors.fdr`) then runs over one family per date: every test of that date,
   whatever its series, detector or subject (`evaluate_subjects` scores all of a partition's metrics
   and pairs together), and the minimum effect sizes apply. The alerts of a partition go out as one
   message, so the discoveries the FDR bound is about are that message's content: with a family per
   metric, pair and detector, a clean day's message could carry the false discoveries of every family
   at once (up to their number times q), with one family it is sent with probability at most q.
   Because BH only needs the p-values, the result is the same as scoring all series in one matrix,
   whatever the grouping or engine.
3. A slice anomaly whose every parent slice is normal that day and whose change is within the
   slice's own week-to-week wobble (`wobble_z` robust sigmas) is not sent: status "within_wobble".
   Small slices are where most false discoveries land, and a real incident on one usually either
   moves its parent or is large for the slice itself.

Days are decided one after another: each day's anomalies are marked as flagged (and the slices they
roll up into as excluded) before the next day is scored, so no flagged day feeds a later baseline
(`detectors.baseline`), and a drift found that day holds its days since its estimated onset out of
that series' later baselines and out of any accepted change (`held_days`). A daily call passes the
stored past flags as `flagged` and `held`; the same rule then gives the same baselines as a backfill
of the range.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Collection, Iterable, Iterator, Mapping, Sequence, Union

import numpy as np
import pandas as pd

from core.config import AlertingSpec, DetectionSpec
from detectors.base import Detector
from detectors.baseline import ACCEPT_AFTER_DAYS
from detectors.fdr import benjamini_hochberg
from detectors.scoring import RAW_COLUMNS, Marks, as_day, check_columns, day_array, pivot_group, score_day
from detectors.spark_engine import is_spark_frame, score_in_spark
from detectors.spec import DetectorSpec

# Per-test level used when the caller turns FDR control off (fdr_q=None).
UNCORRECTED_ALPHA = 0.05
OUTPUT_COLUMNS = [
    "series_id", "detector", "partition", "status", "observed", "expected", "lower", "upper",
    "score", "p_value", "q_value", "direction", "baseline_since", "accepted_today", "drift_start",
    "cumulative_effect", "drift_level", "drift_slope",
]
ENGINES = ("auto", "local", "spark")
# The defaults are the config's (core.config: detection.*, alerting.fdr_q), declared there once.
# Series scored together: 5,000 series x ~60 days of window is a few MiB per detector.
GROUP_SERIES = DetectionSpec.model_fields["group_series"].default
# engine="auto" sends a pandas history with at least this many rows to Spark.
SPARK_MIN_ROWS = DetectionSpec.model_fields["spark_min_rows"].default
FDR_Q = AlertingSpec.model_fields["fdr_q"].default
DRIFT_HORIZON_DAYS = AlertingSpec.model_fields["drift_horizon_days"].default

# A pandas DataFrame, an iterable of pandas DataFrames each holding whole series, or a Spark DataFrame.
History = Union[pd.DataFrame, Iterable[pd.DataFrame], "pyspark.sql.DataFrame"]  # noqa: F821


def evaluate(
    history: History,
    at: dt.date,
    specs: Sequence[DetectorSpec],
    *,
    holidays: Collection[dt.date] = (),
    fdr_q: float | None = FDR_Q,
    min_relative_effect: float = 0.0,
    min_absolute_effect: float = 0.0,
    engine: str = "auto",
    group_series: int = GROUP_SERIES,
    spark_min_rows: int = SPARK_MIN_ROWS,
    drift_horizon_days: int = DRIFT_HORIZON_DAYS,
    **baseline,
) -> pd.DataFrame:
    """One row per (series_id, detector) for date `at`, using rows with partition <= `at` only.

    `baseline`: the keyword arguments of `evaluate_range` that keep flagged days out of baselines."""
    return evaluate_range(
        history, at, at, specs, holidays=holidays, fdr_q=fdr_q,
        min_relative_effect=min_relative_effect, min_absolute_effect=min_absolute_effect,
        engine=engine, group_series=group_series, spark_min_rows=spark_min_rows,
        drift_horizon_days=drift_horizon_days, **baseline,
    )


def evaluate_range(
    history: History,
    start: dt.date,
    end: dt.date,
    specs: Sequence[DetectorSpec],
    *,
    holidays: Collection[dt.date] = (),
    fdr_q: float | None = FDR_Q,
    min_relative_effect: float = 0.0,
    min_absolute_effect: float = 0.0,
    engine: str = "auto",
    group_series: int = GROUP_SERIES,
    spark_min_rows: int = SPARK_MIN_ROWS,
    flagged: pd.DataFrame | None = None,
    excluded_days: Collection[dt.date] = (),
    parents: Mapping[str, Sequence[str]] | None = None,
    accept_after_days: int | None = ACCEPT_AFTER_DAYS,
    accepted: pd.DataFrame | None = None,
    held: pd.DataFrame | None = None,
    wobble_z: float = 0.0,
    drift_horizon_days: int = DRIFT_HORIZON_DAYS,
) -> pd.DataFrame:
    """`evaluate` for every date in [start, end], each scored from the rows up to that date only.

    `engine`: "local" (numpy, a group of series at a time), "spark" (applyInPandas on hash buckets of
    series_id) or "auto" (Spark for a Spark DataFrame or a pandas one of `spark_min_rows` rows or
    more, local otherwise). The verdicts do not depend on the engine or on `group_series`.

    Clean baselines (`detectors.baseline`): `flagged` (series_id, partition) are past anomalies
    before `start` (from storage); `excluded_days` are days every series leaves out (a failed check
    or a missing partition of the table); `parents` maps a series to the series it rolls up into
    (a flagged slice's day is left out of theirs too, and the hierarchy rule uses it);
    `accept_after_days` consecutive flagged days make a change the new baseline (None: never);
    `accepted` (series_id, since, until) are changes a person accepted sooner by a disposition;
    `held` (series_id, partition) are past days a drift finding covered (`held_days` of the stored
    verdicts), kept out of that series' baselines only.
    `wobble_z` > 0 turns on the hierarchy rule (module docstring, point 3). `drift_horizon_days`:
    how far ahead a drift's level is projected for the minimum effect (`decide`).
    """
    baseline = {"flagged": flagged, "excluded_days": excluded_days, "parents": parents, "accepted": accepted,
                "held": held}
    out = evaluate_subjects(
        {"": Subject(history, specs, **baseline)}, start, end, holidays=holidays, fdr_q=fdr_q,
        min_relative_effect=min_relative_effect, min_absolute_effect=min_absolute_effect, engine=engine,
        group_series=group_series, spark_min_rows=spark_min_rows, accept_after_days=accept_after_days,
        wobble_z=wobble_z, drift_horizon_days=drift_horizon_days)
    return out[""]


@dataclass
class Subject:
    """One metric or pair of a partition: its history, its detectors and what keeps days out of its
    baselines (the keyword arguments of `evaluate_range` of the same names)."""

    history: History
    specs: Sequence[DetectorSpec]
    flagged: pd.DataFrame | None = None
    excluded_days: Collection[dt.date] = ()
    parents: Mapping[str, Sequence[str]] | None = None
    accepted: pd.DataFrame | None = None
    held: pd.DataFrame | None = None


def evaluate_subjects(
    subjects: Mapping[str, Subject],
    start: dt.date,
    end: dt.date,
    *,
    holidays: Collection[dt.date] = (),
    fdr_q: float | None = 0.05,
    min_relative_effect: float = 0.0,
    min_absolute_effect: float = 0.0,
    engine: str = "auto",
    group_series: int = GROUP_SERIES,
    spark_min_rows: int = SPARK_MIN_ROWS,
    accept_after_days: int | None = ACCEPT_AFTER_DAYS,
    wobble_z: float = 0.0,
    drift_horizon_days: int = DRIFT_HORIZON_DAYS,
) -> dict[str, pd.DataFrame]:
    """`evaluate_range` for several subjects (metrics and pairs) at once: subject -> its verdicts.

    Each subject is scored from its own history and baseline flags, and each day's anomalies feed
    that subject's later baselines; Benjamini-Hochberg runs once per date over the tests of every
    subject (module docstring, point 2), so a subject's verdicts depend on what else is tested that
    day. The hierarchy rule looks at each subject's own slices.
    """
    if fdr_q is not None and not 0 < fdr_q <= 1:
        raise ValueError(f"fdr_q must be in (0, 1] or None (got {fdr_q!r})")
    if min_relative_effect < 0 or min_absolute_effect < 0:
        raise ValueError(
            f"minimum effects must be >= 0 (got relative={min_relative_effect!r}, absolute={min_absolute_effect!r})"
        )
    if group_series < 1:
        raise ValueError(f"group_series must be >= 1 (got {group_series!r})")
    start, end = as_day(start), as_day(end)
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    holiday_days = np.array(sorted({as_day(h) for h in holidays}), dtype="datetime64[D]")
    if accept_after_days is not None and accept_after_days < 1:
        raise ValueError(f"accept_after_days must be >= 1 or None (got {accept_after_days!r})")
    if wobble_z < 0:
        raise ValueError(f"wobble_z must be >= 0 (got {wobble_z!r})")
    if drift_horizon_days < 0:
        raise ValueError(f"drift_horizon_days must be >= 0 (got {drift_horizon_days!r})")
    names = list(subjects)
    states = [_SubjectState.build(subjects[name], start, end, engine, group_series, spark_min_rows)
              for name in names]
    days = np.arange(start, end + np.timedelta64(1, "D"), dtype="datetime64[D]")
    out: dict[str, list[pd.DataFrame]] = {name: [] for name in names}
    for day in days:
        raw = [state.score(day, holiday_days, group_series, accept_after_days).assign(_subject=number)
               for number, state in enumerate(states)]
        decided = decide(raw, fdr_q, min_relative_effect, min_absolute_effect,
                         [state.parents for state in states], wobble_z, drift_horizon_days)
        numbers = decided.pop("_subject").to_numpy() if "_subject" in decided else np.empty(0, dtype=np.int64)
        for number, (name, state) in enumerate(zip(names, states)):
            mine = decided.loc[numbers == number].reset_index(drop=True)
            state.feed_back(mine, day)
            if len(mine):
                out[name].append(mine)
    return {name: (pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]) if parts
            else pd.DataFrame(columns=OUTPUT_COLUMNS) for name, parts in out.items()}


@dataclass
class _SubjectState:
    """A subject being scored day after day: its matrices (local) or Spark frame, and its marks."""

    history: History
    specs: Sequence[DetectorSpec]
    detectors: list
    parents: dict[str, list[str]]
    marks: Marks
    engine: str
    matrices: list = field(default_factory=list)

    @classmethod
    def build(cls, subject: Subject, start, end, engine: str, group_series: int, spark_min_rows: int):
        detectors = [spec.build() for spec in subject.specs]
        parents = {str(k): [str(p) for p in v] for k, v in (subject.parents or {}).items()}
        own = _as_marks(subject.flagged)
        marks = Marks(own, _roll_up(own, parents),
                      np.array(sorted({as_day(d) for d in subject.excluded_days}), dtype="datetime64[D]"),
                      _as_accepted(subject.accepted), _as_marks(subject.held))
        history = subject.history
        chosen = choose_engine(history, engine, spark_min_rows)
        state = cls(history, list(subject.specs), detectors, parents, marks, chosen)
        if chosen == "local":
            if is_spark_frame(history):  # asked for local on a Spark DataFrame: collect it
                history = history.toPandas()
            state.matrices = [pivot_group(group, start, end, detectors)
                              for group in series_groups(history, group_series, detectors)]
            for matrix in state.matrices:
                marks.apply(matrix)
        return state

    def score(self, day, holiday_days, group_series: int, accept_after_days) -> pd.DataFrame:
        """This subject's raw rows of one day (no FDR yet), from its marks as they are now."""
        if self.engine == "spark":
            return score_in_spark(self.history, day, day, self.specs, holiday_days, group_series, self.marks,
                                  accept_after_days)
        frames = [score_day(m, day, self.detectors, holiday_days, accept_after_days) for m in self.matrices]
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame(columns=RAW_COLUMNS)
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def feed_back(self, decided: pd.DataFrame, day) -> None:
        """Mark the day's anomalies as flagged (and the slices they roll up into as excluded), and the
        days a drift found that day covered as held (`held_days`)."""
        held = held_days(decided)
        if self.engine == "spark":
            found = _as_marks(decided.loc[decided.status == "anomaly", ["series_id", "partition"]])
            self.marks = Marks(pd.concat([self.marks.flagged, found]),
                               pd.concat([self.marks.excluded, _roll_up(found, self.parents)]),
                               self.marks.excluded_days, self.marks.accepted, pd.concat([self.marks.held, held]))
            return
        found = decided.loc[decided.status == "anomaly", "series_id"].astype(str).unique()
        rolled = sorted({p for key in found for p in self.parents.get(key, ())})
        for matrix in self.matrices:
            matrix.mark(found, np.full(found.size, day), flagged=True)
            matrix.mark(np.array(rolled, dtype=object), np.full(len(rolled), day), flagged=False)
            if len(held):
                matrix.hold(held["series_id"].to_numpy(dtype=object), day_array(held["partition"]))


def held_days(verdicts: pd.DataFrame) -> pd.DataFrame:
    """(series_id, partition) of the days each drift finding in `verdicts` covered: from its estimated
    onset (`drift_start`) to the anomaly's day, of that series only.

    A drift is found days after it began; those days were never flagged, so without this they would
    stay in the series' clean reference and bias it (the reference of `ratio_drift` is six weeks long,
    long enough to still hold them when the same slice drifts again). And a drift is no new level to
    accept as the baseline: held days break a run of flagged days (`detectors.baseline`).

    Only the series itself: a parent holds the drift diluted by its other slices, its own detectors
    judge it, and the days the slice was flagged already leave its baselines (`excluded`). The rule
    reads the verdict rows alone, so a daily run that derives it from the stored rows holds the same
    days as a backfill."""
    if not len(verdicts) or "drift_start" not in verdicts:
        return _as_marks(None)
    drifts = verdicts.loc[(verdicts.status == "anomaly") & verdicts.drift_start.notna(),
                          ["series_id", "partition", "drift_start"]]
    if not len(drifts):
        return _as_marks(None)
    first, last = day_array(drifts["drift_start"]), day_array(drifts["partition"])
    spans = (last - first).astype(np.int64) + 1
    keep = spans > 0
    keys = np.repeat(drifts["series_id"].astype(str).to_numpy()[keep], spans[keep])
    offsets = np.concatenate([np.arange(n) for n in spans[keep]]) if keep.any() else np.empty(0, dtype=np.int64)
    days = np.repeat(first[keep], spans[keep]) + offsets.astype("timedelta64[D]")
    frame = pd.DataFrame({"series_id": keys, "partition": pd.to_datetime(days).date})
    return frame.drop_duplicates(ignore_index=True)


def _as_marks(frame: pd.DataFrame | None) -> pd.DataFrame:
    if frame is None or not len(frame):
        return pd.DataFrame({"series_id": pd.Series(dtype=object), "partition": pd.Series(dtype=object)})
    missing = {"series_id", "partition"} - set(frame.columns)
    if missing:
        raise ValueError(f"flagged lacks column(s) {sorted(missing)}; it has {list(frame.columns)}")
    return frame[["series_id", "partition"]].astype({"series_id": str}).drop_duplicates()


def _as_accepted(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    if frame is None or not len(frame):
        return None
    missing = {"series_id", "since", "until"} - set(frame.columns)
    if missing:
        raise ValueError(f"accepted lacks column(s) {sorted(missing)}; it has {list(frame.columns)}")
    return frame[["series_id", "since", "until"]].astype({"series_id": str})


def _roll_up(flagged: pd.DataFrame, parents: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """The (parent, day) pairs of flagged slices: a day a parent holds a flagged slice's incident."""
    rows = [(p, day) for key, day in zip(flagged["series_id"], flagged["partition"]) for p in parents.get(key, ())]
    return pd.DataFrame(rows, columns=["series_id", "partition"]).drop_duplicates()


def choose_engine(history: History, engine: str, spark_min_rows: int) -> str:
    """"local" or "spark" for this history; "auto" picks Spark for Spark frames and very large pandas ones."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)} (got {engine!r})")
    if engine == "spark" and not (is_spark_frame(history) or isinstance(history, pd.DataFrame)):
        raise ValueError("engine='spark' needs a Spark or pandas DataFrame, not an iterable of chunks")
    if engine != "auto":
        return engine
    if is_spark_frame(history):
        return "spark"
    if isinstance(history, pd.DataFrame) and len(history) >= spark_min_rows:
        return "spark"
    return "local"


def series_groups(history, group_series: int, detectors: Sequence[Detector]) -> Iterator[pd.DataFrame]:
    """Groups of at most `group_series` whole series from a DataFrame or an iterable of DataFrames.

    An iterable's frames must each hold whole series (every row of a series in one frame): a series
    split over two frames would be scored from half its history, so that is an error.
    """
    if isinstance(history, pd.DataFrame):
        check_columns(history, detectors)
        yield from _split(history, group_series)
        return
    seen: set[str] = set()
    for number, frame in enumerate(history):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"history chunk {number} is a {type(frame).__name__}, not a pandas DataFrame")
        check_columns(frame, detectors)
        ids = set(frame["series_id"].astype(str).unique())
        repeated = ids & seen
        if repeated:
            raise ValueError(
                f"series {sorted(repeated)[0]!r} appears in more than one history chunk; "
                "each chunk must hold whole series"
            )
        seen |= ids
        yield from _split(frame, group_series)


def _split(frame: pd.DataFrame, group_series: int) -> Iterator[pd.DataFrame]:
    codes, uniques = pd.factorize(frame["series_id"])
    if len(uniques) <= group_series:
        yield frame
        return
    group_of_row = codes // group_series
    order = np.argsort(group_of_row, kind="stable")
    bounds = np.searchsorted(group_of_row[order], np.arange(group_of_row.max() + 2))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        yield frame.iloc[order[lo:hi]]


def decide(raw: list[pd.DataFrame], fdr_q: float | None, min_rel: float, min_abs: float,
           parents=None, wobble_z: float = 0.0, drift_horizon_days: int = DRIFT_HORIZON_DAYS) -> pd.DataFrame:
    """Benjamini-Hochberg per date over every test (series, detector spec and, with a `_subject`
    column, subject), then the anomaly decision.

    The minimum effect compares a row's observed value with its expected one, except for a drift
    finding (a row with `drift_level`): a drift that grows by a fraction of a percent a day is still
    small on the day the evidence for it is conclusive, so it is material when its estimated level so
    far, or that level carried forward at its estimated slope for `drift_horizon_days`, reaches the
    minimum effect.

    `parents`: one subject's slice hierarchy, or with `_subject` a list of them by subject number."""
    frames = [f for f in raw if len(f)]
    if not frames:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    result = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    del frames, raw
    subjects = "_subject" in result
    # Date, subject, spec, series id: the order of a single all-series matrix, whatever the grouping.
    days = day_array(result["partition"]).astype(np.int64)
    subject = result["_subject"].to_numpy(dtype=np.int64) if subjects else np.zeros(len(result), dtype=np.int64)
    spec = result["spec"].to_numpy(dtype=np.int64)
    series = pd.factorize(result["series_id"], sort=True)[0]
    order = np.lexsort((series, spec, subject, days))
    result = result.take(order).reset_index(drop=True)
    days, subject = days[order], subject[order]

    p_value = result["p_value"].to_numpy(dtype=float)
    if fdr_q is None:
        q_value, level = p_value, UNCORRECTED_ALPHA
    else:
        q_value, level = np.full(p_value.shape, np.nan), fdr_q
        starts = np.flatnonzero(np.r_[True, np.diff(days) != 0])
        for lo, hi in zip(starts, np.r_[starts[1:], days.size]):
            q_value[lo:hi] = benjamini_hochberg(p_value[lo:hi])
    observed, expected = result["observed"].to_numpy(dtype=float), result["expected"].to_numpy(dtype=float)
    effect = np.abs(observed - expected)
    if "drift_level" in result:
        so_far = result["drift_level"].to_numpy(dtype=float)
        ahead = so_far + drift_horizon_days * result["drift_slope"].to_numpy(dtype=float)
        effect = np.where(np.isfinite(so_far), np.fmax(np.abs(so_far), np.abs(ahead)) * np.abs(expected), effect)
    with np.errstate(invalid="ignore"):
        big_enough = (effect >= min_abs) & (effect >= min_rel * np.abs(expected))
    tested = (result["status"] == "ok").to_numpy()
    status = result["status"].to_numpy(dtype=object).copy()
    anomaly = tested & (q_value <= level) & big_enough
    hierarchies = parents if subjects else [parents]
    if wobble_z > 0 and anomaly.any():
        held = np.zeros(anomaly.shape, dtype=bool)
        for number, tree in enumerate(hierarchies or ()):
            rows = np.flatnonzero(subject == number)
            if tree and anomaly[rows].any():
                held[rows] = within_wobble(result.iloc[rows], anomaly[rows], days[rows], tree, wobble_z)
        status[anomaly & held] = "within_wobble"
        anomaly &= ~held
    status[anomaly] = "anomaly"
    result["status"] = status
    result["q_value"] = q_value
    return result[OUTPUT_COLUMNS + (["_subject"] if subjects else [])]


def within_wobble(result: pd.DataFrame, anomaly: np.ndarray, days: np.ndarray,
                  parents: Mapping[str, Sequence[str]], wobble_z: float) -> np.ndarray:
    """Anomalies of slices whose parents are all normal that day (no anomaly on any detector) and
    whose relative change is at most `wobble_z` times the slice's own week-to-week wobble."""
    keys = result["series_id"].astype(str).to_numpy()
    flagged = set(zip(keys[anomaly], days[anomaly]))
    with np.errstate(all="ignore"):
        relative = np.abs(result["observed"].to_numpy(dtype=float) / result["expected"].to_numpy(dtype=float) - 1)
    small = relative <= wobble_z * result["wobble"].to_numpy(dtype=float)
    out = np.zeros(anomaly.shape, dtype=bool)
    for i in np.flatnonzero(anomaly & small):
        above = parents.get(keys[i], ())
        out[i] = bool(above) and not any((p, days[i]) in flagged for p in above)
    return out
