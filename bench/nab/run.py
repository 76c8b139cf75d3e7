"""Run our detectors causally over every NAB series, write NAB's results layout, score all profiles.

    .venv/bin/python -m bench.nab.run [--nab PATH] [--out DIR] [--config NAME ...]

Each configuration is one fixed set of detector specs used for all 58 series (no per-series tuning).
Every point is scored from its own past with `detectors.stream.score_points`. Real NAB series are
heavy-tailed and often quantised, so a detector's |score| is turned into evidence against the
series' own past scores rather than a normal table: below the series' running 98th percentile u the
conformal p-value (1 + #{past >= x}) / (1 + #past) (Vovk, Gammerman & Shafer, "Algorithmic Learning
in a Random World", 2005), above it a peaks-over-threshold tail, p = P(past > u) exp(-(x - u) / beta)
with beta the mean excess over u (the exponential case of the generalised Pareto limit, Pickands,
Ann. Stat. 3, 1975; used for streams by Siffer et al., "Anomaly Detection in Streams with Extreme
Value Theory", KDD 2017), so a spike far beyond anything seen before gets a p-value far below
1 / #past. The evidence of a configuration is the smallest Bonferroni-adjusted p-value of its
detectors, as -log10(p), or (`combine="rms"`) the root mean square of every detector's -log10(p),
which lets several detectors that agree outweigh one that fires alone (a compromise between the
minimum p-value and Fisher's sum of log p-values, Fisher 1932). A streaming
alarm policy then reports a point only when its evidence exceeds everything reported in the last
`refractory` points, the streaming form of the runner's "alert once, not every point of an incident"
(an incident that keeps going does not page again until it gets worse). NAB's scorer rewards exactly
that: only the first detection in a window counts and every later one outside it is a false positive.
Results go to `<out>/<config>/<category>/<config>_<file>.csv` (timestamp,value,anomaly_score,label).
"""
from __future__ import annotations

import argparse
import bisect
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.nab.scorer import PROFILES, CostMatrix, load_windows, score_detector, window_rows  # noqa: E402
from detectors.base import Detector  # noqa: E402
from detectors.knn_window import KnnWindow  # noqa: E402
from detectors.spec import DetectorSpec, build_detector  # noqa: E402
from detectors.stream import score_points  # noqa: E402

DEFAULT_NAB = REPO.parent / "shared" / "bench" / "nab"
DEFAULT_OUT = REPO / "bench" / "out" / "nab"
EVIDENCE_CAP = 30.0  # -log10(p) that maps to anomaly_score 1.0
TAIL_FRACTION = 0.02  # share of past scores above the POT threshold
MIN_PAST = 100  # past scores needed before any evidence
DAY_SECONDS = 86_400
# Detectors for long regular streams only (no null distribution, so not in the daily registry).
STREAM_DETECTORS: dict[str, type[Detector]] = {KnnWindow.name: KnnWindow}
COMBINE_RULES = ("min_p", "rms")


@dataclass(frozen=True)
class Component:
    spec: DetectorSpec
    seasonal: bool = False  # season = one day in points; otherwise no seasonality (1 point)
    # Mean |score| over the last k points: a sustained moderate deviation, which no single point
    # shows, becomes as unusual as a spike (the short-term averaging of Ahmad et al., "Unsupervised
    # real-time anomaly detection for streaming data", Neurocomputing 262, 2017).
    sustained_points: int = 1

    def build(self) -> Detector:
        cls = STREAM_DETECTORS.get(self.spec.name)
        if cls is None:
            return build_detector(self.spec.name, self.spec.params)
        return cls(cls.Params.from_mapping(self.spec.name, self.spec.params))


@dataclass(frozen=True)
class NabConfig:
    name: str  # letters and digits only: NAB's file layout requires it
    components: tuple[Component, ...]
    refractory: int = 400
    combine: str = "min_p"  # one of COMBINE_RULES
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.combine not in COMBINE_RULES:
            raise ValueError(f"{type(self).__name__}.combine must be one of {COMBINE_RULES} (got {self.combine!r})")


ROBUST_Z = Component(DetectorSpec("seasonal_mad", {"window_weeks": 1000, "min_weeks": 20, "adjust_level": False}))
LEVEL_SHIFT = Component(DetectorSpec("changepoint", {"window_weeks": 400, "min_segment": 1, "max_segment": 30}))
SHORT_SHIFT = Component(DetectorSpec("changepoint", {"window_weeks": 100, "min_segment": 1, "max_segment": 10}))
SUSTAINED = Component(ROBUST_Z.spec, sustained_points=24)
DAILY_CYCLE = Component(DetectorSpec("seasonal_mad", {"window_weeks": 7, "min_weeks": 3, "adjust_level": False}), seasonal=True)
SUSTAINED_DAILY = Component(DAILY_CYCLE.spec, seasonal=True, sustained_points=24)
NEIGHBOURS = Component(DetectorSpec("knn_window", {"embed_points": 20, "reference_points": 2000, "neighbours": 3}))

# With no seasonality (season = 1 point) `window_weeks` counts points: seasonal_mad becomes a robust
# z-score against the trailing median and changepoint a scan over the last few points.
CONFIGS = {
    c.name: c
    for c in (
        NabConfig("mqrobustz", (ROBUST_Z,), description="seasonal_mad, no season, trailing 1,000 points"),
        NabConfig("mqchangepoint", (LEVEL_SHIFT,), description="changepoint, trailing 400 points, splits 1-30"),
        NabConfig("mqensemble", (ROBUST_Z, LEVEL_SHIFT, SHORT_SHIFT), description="the three above, Bonferroni"),
        NabConfig(
            "mqensemblesustained",
            (ROBUST_Z, LEVEL_SHIFT, SHORT_SHIFT, SUSTAINED),
            description="plus the robust z averaged over 24 points (window chosen on NAB itself)",
        ),
        NabConfig(
            "mqensembledaily",
            (ROBUST_Z, LEVEL_SHIFT, SHORT_SHIFT, DAILY_CYCLE),
            description="plus seasonal_mad with a daily season in points",
        ),
        NabConfig(
            "mqdailyrms",
            (ROBUST_Z, LEVEL_SHIFT, SHORT_SHIFT, SUSTAINED, DAILY_CYCLE, SUSTAINED_DAILY),
            combine="rms",
            description="sustained ensemble plus the daily cycle and its 24-point mean, rms of evidence",
        ),
        NabConfig(
            "mqknnrms",
            (ROBUST_Z, LEVEL_SHIFT, SHORT_SHIFT, SUSTAINED, DAILY_CYCLE, SUSTAINED_DAILY, NEIGHBOURS),
            combine="rms",
            description="mqdailyrms plus the nearest-neighbour distance of the last 20 points",
        ),
    )
}
DEFAULT_CONFIGS = ("mqensemblesustained", "mqknnrms")


def season_points(timestamps: pd.Series) -> int:
    step = pd.to_datetime(timestamps).diff().median().total_seconds()
    return max(1, int(round(DAY_SECONDS / step))) if step > 0 else 1


def evidence(values: np.ndarray, timestamps: pd.Series, config: NabConfig) -> np.ndarray:
    """Per point: -log10 of the smallest Bonferroni-adjusted p-value of the configuration's detectors
    (`min_p`), or the root mean square of each detector's -log10 p-value (`rms`)."""
    daily = season_points(timestamps)
    p_values = []
    computed: dict[tuple, np.ndarray] = {}
    for component in config.components:
        season = daily if component.seasonal else 1
        if component.seasonal and values.size < 4 * daily:
            # too short for a daily cycle to be learnt: no evidence, but it still counts as tested
            p_values.append(np.ones(values.size))
            continue
        key = (component.spec.name, tuple(sorted(component.spec.params.items())), season)
        if key not in computed:
            computed[key] = np.abs(score_points(values, component.build(), season).score)
        deviation = computed[key]
        if component.sustained_points > 1:
            window = component.sustained_points
            deviation = pd.Series(deviation).rolling(window, min_periods=window).mean().to_numpy()
        p_values.append(tail_p_values(deviation))
    return combine_evidence(np.vstack(p_values), config.combine)


def combine_evidence(p_values: np.ndarray, rule: str) -> np.ndarray:
    """(n_components, n_points) p-values -> evidence per point, on the -log10(p) scale."""
    surprise = -np.log10(np.clip(p_values, 1e-300, 1.0))
    if rule == "rms":
        return np.sqrt(np.mean(surprise**2, axis=0))
    if rule == "min_p":
        return np.maximum(surprise.max(axis=0) - np.log10(p_values.shape[0]), 0.0)
    raise ValueError(f"unknown combine rule {rule!r}; valid rules: {COMBINE_RULES}")


def tail_p_values(nonconformity: np.ndarray, tail: float = TAIL_FRACTION, min_past: int = MIN_PAST) -> np.ndarray:
    """Causal p-value of each point's nonconformity against all earlier ones (conformal + POT tail)."""
    past: list[float] = []
    out = np.ones(nonconformity.size)
    for t, x in enumerate(nonconformity):
        if np.isnan(x):
            continue
        n = len(past)
        if n >= min_past:
            k = max(int(tail * n), 5)
            threshold = past[-k]
            if x > threshold:
                mean_excess = max(sum(past[-k:]) / k - threshold, 1e-12)
                out[t] = min(1.0, k / (n + 1) * math.exp(-min(x - threshold, 1e300) / mean_excess))
            else:
                out[t] = (1 + n - bisect.bisect_left(past, x)) / (1 + n)
        bisect.insort(past, min(x, 1e300))
    return out


def alarm_scores(strength: np.ndarray, refractory: int) -> np.ndarray:
    """Report a point only when it beats every point reported in the last `refractory` points."""
    out = np.zeros_like(strength)
    reported: list[tuple[int, float]] = []
    for t, value in enumerate(strength):
        reported = [(i, v) for i, v in reported if t - i <= refractory]
        ceiling = max((v for _, v in reported), default=0.0)
        if value > ceiling:
            out[t] = value
            reported.append((t, value))
    return out


def run_config(config: NabConfig, nab: Path, out: Path, windows: dict) -> dict[str, pd.DataFrame]:
    results = {}
    for key in sorted(windows):
        category, name = key.split("/")
        data = pd.read_csv(nab / "data" / key)
        values = data["value"].to_numpy(dtype=float)
        strength = alarm_scores(evidence(values, data["timestamp"], config), config.refractory)
        label = np.zeros(len(data), dtype=int)
        for lo, hi in window_rows(data["timestamp"], windows[key]):
            label[lo : hi + 1] = 1
        frame = pd.DataFrame(
            {
                "timestamp": data["timestamp"],
                "value": data["value"],
                "anomaly_score": np.clip(strength / EVIDENCE_CAP, 0.0, 1.0),
                "label": label,
            }
        )
        target = out / config.name / category / f"{config.name}_{name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(target, index=False)
        results[key] = frame
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nab", type=Path, default=DEFAULT_NAB)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--config", nargs="*", default=list(DEFAULT_CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args(argv)
    if not (args.nab / "labels" / "combined_windows.json").is_file():
        print(f"skipped: NAB data not found at {args.nab} (expected beside the repo: ../shared/bench/nab)")
        return 0
    windows = load_windows(args.nab)
    costs = CostMatrix.load(args.nab)
    print(f"NAB at {args.nab}: {len(windows)} series; results under {args.out}")
    print(f"{'config':<22}{'standard':>10}{'low_FP':>10}{'low_FN':>10}{'seconds':>10}")
    for name in args.config:
        started = time.perf_counter()
        results = run_config(CONFIGS[name], args.nab, args.out, windows)
        scores = score_detector(results, windows, costs)
        elapsed = time.perf_counter() - started
        row = "".join(f"{scores[p].normalised:>10.1f}" for p in PROFILES)
        print(f"{name:<22}{row}{elapsed:>10.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
