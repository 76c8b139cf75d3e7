"""NAB scoring, written from the published description.

Lavin & Ahmad, "Evaluating Real-time Anomaly Detection Algorithms - the Numenta Anomaly Benchmark",
IEEE ICMLA 2015 (arXiv:1510.03336), and the scoring rules documented with NAB (numenta/NAB README and
wiki, "NAB scoring"):

* Each labelled anomaly has a window; only the earliest detection inside a window counts, worth
  tp * sigma(y) / sigma(-1), with sigma(y) = 2 / (1 + exp(5 y)) - 1 the scaled sigmoid and
  y = -(end - i + 1) / width the position relative to the window's right end (so the first row of a
  window is worth exactly tp and the reward falls towards 0 at its end). Later detections in the same
  window are ignored.
* A detection outside every window costs fp * sigma(y) < 0 with y = (i - end) / (width - 1) measured
  from the end of the preceding window (a detection right after a window is nearly free), and the
  full -fp when no window precedes it.
* A window with no detection costs -fn. Rows in the probationary period (the first
  min(15% of the file, 750) rows) never count.
* A detector's raw score is the sum over files; it is normalised as 100 (raw - null) / (perfect -
  null), where the null detector scores -fn per window and the perfect one +tp per window.
* The detection threshold on `anomaly_score` is chosen per profile to maximise the total, over the
  thresholds at every distinct score value (and "never detect").
"""
from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

PROBATION_FRACTION = 0.15
PROBATION_CAP_ROWS = 750  # 15% of 5,000 rows
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


@dataclass(frozen=True)
class CostMatrix:
    tp: float
    fp: float
    fn: float

    @classmethod
    def load(cls, nab_root: Path) -> dict[str, "CostMatrix"]:
        raw = json.loads((nab_root / "config" / "profiles.json").read_text())
        return {
            name: cls(tp=p["CostMatrix"]["tpWeight"], fp=p["CostMatrix"]["fpWeight"], fn=p["CostMatrix"]["fnWeight"])
            for name, p in raw.items()
        }


@dataclass(frozen=True)
class ProfileScore:
    profile: str
    threshold: float
    raw: float
    normalised: float


def scaled_sigmoid(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    with np.errstate(over="ignore"):
        out = 2.0 / (1.0 + np.exp(5.0 * y)) - 1.0
    return np.where(y > 3.0, -1.0, out)


def probation_rows(n_rows: int) -> int:
    return int(min(math.floor(PROBATION_FRACTION * n_rows), PROBATION_FRACTION * 5000))


def window_rows(timestamps: pd.Series, windows: list[list[str]]) -> list[tuple[int, int]]:
    """(first row, last row) of each labelled window, by timestamp."""
    ts = pd.to_datetime(timestamps).to_numpy()
    spans = []
    for start, end in windows:
        lo = int(np.searchsorted(ts, np.datetime64(pd.Timestamp(start)), side="left"))
        hi = int(np.searchsorted(ts, np.datetime64(pd.Timestamp(end)), side="right")) - 1
        spans.append((lo, hi))
    return spans


@dataclass(frozen=True)
class _FileEvents:
    """Score changes of one file as the threshold falls, as (score at which it happens, delta) pairs."""

    thresholds: np.ndarray
    deltas: np.ndarray
    n_windows: int


def _file_events(scores: np.ndarray, spans: list[tuple[int, int]], cost: CostMatrix) -> _FileEvents:
    n = scores.size
    counted = np.zeros(n, dtype=bool)
    counted[probation_rows(n):] = True
    in_window = np.full(n, -1)
    weight = np.full(n, -cost.fp)
    for k, (lo, hi) in enumerate(spans):
        width = hi - lo + 1
        rows = np.arange(lo, hi + 1)
        in_window[lo : hi + 1] = k
        weight[lo : hi + 1] = cost.tp * scaled_sigmoid(-(hi - rows + 1) / width) / scaled_sigmoid(-1.0)
        after_end = hi + 1
        next_lo = spans[k + 1][0] if k + 1 < len(spans) else n
        rows = np.arange(after_end, next_lo)
        weight[after_end:next_lo] = cost.fp * scaled_sigmoid((rows - hi) / max(width - 1, 1))
    thresholds, deltas = [], []
    fp_rows = counted & (in_window < 0)
    thresholds.append(scores[fp_rows])
    deltas.append(weight[fp_rows])
    for k in range(len(spans)):
        rows = np.flatnonzero(counted & (in_window == k))
        if rows.size == 0:
            continue
        # As the threshold falls, rows join in descending score; the window is worth the weight of
        # its earliest detected row, so it changes whenever a new earliest row joins.
        order = rows[np.argsort(-scores[rows], kind="stable")]
        earliest = np.minimum.accumulate(order)
        value = weight[earliest]
        change = np.concatenate(([value[0] + cost.fn], np.diff(value)))
        thresholds.append(scores[order])
        deltas.append(change)
    return _FileEvents(np.concatenate(thresholds), np.concatenate(deltas), len(spans))


def score_detector(
    files: dict[str, pd.DataFrame],
    windows: dict[str, list[list[str]]],
    costs: dict[str, CostMatrix],
) -> dict[str, ProfileScore]:
    """Optimised-threshold NAB score per profile. `files` maps "<category>/<name>.csv" to a frame
    with `timestamp` and `anomaly_score` columns holding every row of that data file, in order."""
    missing = sorted(set(windows) - set(files))
    if missing:
        raise ValueError(f"{len(missing)} NAB file(s) have no results, e.g. {missing[:3]}")
    spans = {key: window_rows(files[key]["timestamp"], windows[key]) for key in windows}
    out = {}
    for profile, cost in costs.items():
        events = [_file_events(files[k]["anomaly_score"].to_numpy(dtype=float), spans[k], cost) for k in windows]
        n_windows = sum(e.n_windows for e in events)
        null = -cost.fn * n_windows
        perfect = cost.tp * n_windows
        thr = np.concatenate([e.thresholds for e in events])
        delta = np.concatenate([e.deltas for e in events])
        order = np.argsort(-thr, kind="stable")
        thr, delta = thr[order], delta[order]
        totals = null + np.cumsum(delta)
        # A threshold includes every row scoring >= it: evaluate only after the last of a tie.
        last_of_tie = np.append(thr[1:] != thr[:-1], True)
        candidates = totals[last_of_tie]
        levels = thr[last_of_tie]
        best = int(np.argmax(candidates)) if candidates.size else -1
        if best < 0 or candidates[best] <= null:
            raw, threshold = null, float(thr.max(initial=1.0)) + 1e-9
        else:
            raw, threshold = float(candidates[best]), float(levels[best])
        out[profile] = ProfileScore(profile, threshold, raw, 100.0 * (raw - null) / (perfect - null))
    return out


def load_windows(nab_root: Path) -> dict[str, list[list[str]]]:
    return json.loads((nab_root / "labels" / "combined_windows.json").read_text())


def load_results(results_dir: Path, detector: str, keys: list[str]) -> dict[str, pd.DataFrame]:
    """Read `<results_dir>/<category>/<detector>_<file>.csv[.gz]` for every data key."""
    frames = {}
    for key in keys:
        category, name = key.split("/")
        path = results_dir / category / f"{detector}_{name}"
        if not path.exists():
            path = path.with_name(path.name + ".gz")
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as handle:
            frames[key] = pd.read_csv(handle, usecols=["timestamp", "anomaly_score"])
    return frames
