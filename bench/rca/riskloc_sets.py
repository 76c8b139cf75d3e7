"""Seeded cubes with the settings of RiskLoc's synthetic sets S, L and H, as plain sums and as ratios.

Settings from Kalander, "RiskLoc: Localization of Multi-dimensional Root Causes by Weighted Risk",
arXiv 2205.10004, section 5 (synthetic datasets), whose generator draws per case:

* leaf values Weibull(alpha) x 100 with alpha in [0.5, 1.0], then 0-25% of the leaves set to zero;
* a forecast with relative Gaussian error of sd in [0, 0.25] (S, H) or [0, 0.10] (L), on a random
  half of the leaves on each side (real or forecast), so the error has no sign overall;
* 1-3 anomalies (L: 1-5) of 1-3 elements each (L: 1) of one cuboid at a random layer (L: the
  leaf layer), none overlapping; each anomalous leaf moves by a factor 1 - r, in the direction of the
  normal error. Each anomaly draws a severity s = U[0.2, 1.0] (L: U[0.5, 1.0]) + the case's noise
  level and a deviation d = U[0, 0.1] (L: 0), and each of its leaves its own r ~ Normal(s, d), so
  the leaves of one element do not all move by the same factor.

The deviation is in RiskLoc's published generator: `generate_dataset.py` of shaido987/riskloc
(commit d000e7c), argument `--anomaly-deviation` (default [0.0, 0.1]; its comment: "S,H: [0.0,0.1],
L: [0.0,0.0]") and `scale_anomaly`, `r = rng.normal(loc=severity, scale=deviation)` per leaf row;
the author restates it in that repository's issue #12. `--deviation none` gives every leaf of an
anomaly the same r = s (this script's generator before the deviation was added). The spread is drawn
from a random stream of its own, so with and without it a seed gives the same cubes, anomalies and
severities, and the two differ only by the per-leaf spread.

Cube shapes: S is a 10 x 12 x 10 x 8 x 5 cube (48,000 leaves) and L 10 x 24 x 10 x 15 (36,000), as in the
paper. The paper's H (10 x 5 x 250 x 20 x 8 x 12, 24 million leaves) does not fit a shared 2-core
machine; `H-small` keeps its six dimensions and its 250-value dimension but shrinks the others
(5 x 5 x 250 x 4 x 3 x 2 = 150,000 leaves) and is reported as such.

*Derived measures* (`--measure ratio`): the same anomaly draw applied to a ratio numerator/denominator
(a capture rate). Each leaf has a baseline rate in [0.5, 1.0] and 28 days of history; today's
denominator also moves with traffic (every value of one random dimension by a factor in [0.6, 1.6]),
which is not an anomaly: only the elements whose *rate* moved are root causes. Localised with
`rootcause.localize_ratio`.

Scored as `squeeze_b0.py` scores (exact element match, TP/FP/FN summed, F1 = 2TP / (2TP + FP + FN)).
`tied` counts the missed true elements that a wrongly found one matches leaf for leaf on the leaves
holding data (a parent all of whose other children are zero: the data are the same either way), and
`F1 ties either` scores those as found; the F1 column is the strict score.
`s/case` is the wall time of the localiser alone, `cpu s/case` its process (CPU) time, which says more
on a loaded machine. The paper's generator draws 1,000 cases for S and L (100 for H).

Usage: .venv/bin/python bench/rca/riskloc_sets.py [--sets S L H-small] [--measure sum ratio]
           [--cases 20] [--seed 1] [--deviation paper|none]
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rootcause import localize, localize_ratio  # noqa: E402


@dataclass(frozen=True)
class Setting:
    sizes: tuple[int, ...]
    noise: tuple[float, float]
    severity: tuple[float, float]
    anomalies: tuple[int, int]
    elements: tuple[int, int]
    leaf_layer_only: bool
    deviation: tuple[float, float]      # sd of each anomalous leaf's r around its anomaly's severity


SETTINGS = {
    "S": Setting((10, 12, 10, 8, 5), (0.0, 0.25), (0.2, 1.0), (1, 3), (1, 3), False, (0.0, 0.1)),
    "L": Setting((10, 24, 10, 15), (0.0, 0.10), (0.5, 1.0), (1, 5), (1, 1), True, (0.0, 0.0)),
    "H-small": Setting((5, 5, 250, 4, 3, 2), (0.0, 0.25), (0.2, 1.0), (1, 3), (1, 3), False, (0.0, 0.1)),
}
ZERO_RATE = (0.0, 0.25)
WEIBULL_ALPHA = (0.5, 1.0)
HISTORY_DAYS = 28


def _grid(sizes: tuple[int, ...]) -> tuple[list[str], pd.DataFrame]:
    dims = [chr(ord("a") + i) for i in range(len(sizes))]
    values = [[f"{d}{i}" for i in range(1, n + 1)] for d, n in zip(dims, sizes)]
    return dims, pd.DataFrame(list(itertools.product(*values)), columns=dims)


def _draw_anomalies(rng, setting: Setting, dims: list[str], frame: pd.DataFrame,
                    nonzero: np.ndarray) -> list[list[dict[str, str]]]:
    """Non-overlapping anomalies: each a list of elements of one cuboid."""
    sizes = dict(zip(dims, setting.sizes))
    anomalies: list[list[dict[str, str]]] = []
    used_cuboids: list[tuple[str, ...]] = []
    taken = np.zeros(len(frame), dtype=bool)
    for _ in range(int(rng.integers(setting.anomalies[0], setting.anomalies[1], endpoint=True))):
        n_elements = int(rng.integers(setting.elements[0], setting.elements[1], endpoint=True))
        for _attempt in range(200):
            layer = len(dims) if setting.leaf_layer_only else int(rng.integers(1, len(dims), endpoint=True))
            cuboid = tuple(sorted(rng.choice(dims, size=layer, replace=False)))
            if cuboid in used_cuboids and layer < len(dims):
                continue
            elements = [{d: f"{d}{int(rng.integers(1, sizes[d], endpoint=True))}" for d in cuboid}
                        for _ in range(n_elements)]
            if len({tuple(e.items()) for e in elements}) < n_elements:
                continue
            masks = [np.logical_and.reduce([frame[d].to_numpy() == v for d, v in e.items()]) for e in elements]
            union = np.logical_or.reduce(masks)
            # No overlap with earlier anomalies, and every element has data to move.
            if (union & taken).any() or any(not (m & nonzero).any() for m in masks):
                continue
            taken |= union
            used_cuboids.append(cuboid)
            anomalies.append(elements)
            break
    return anomalies


def make_case(rng, setting: Setting, measure: str, spread_rng=None
              ) -> tuple[pd.DataFrame, list[str], set[str], dict]:
    """One case. `spread_rng`: the stream of the per-leaf deviation (see the module docstring); None
    for none."""
    dims, frame = _grid(setting.sizes)
    n = len(frame)
    alpha = rng.uniform(*WEIBULL_ALPHA)
    volume = rng.weibull(alpha, n) * 100 * (rng.uniform(size=n) > rng.uniform(*ZERO_RATE))
    noise = rng.uniform(*setting.noise)
    anomalies = _draw_anomalies(rng, setting, dims, frame, volume > 0)
    factor = np.ones(n)
    # The anomalies move in the direction of the normal error (as in the paper), drawn here first.
    error = np.clip(1 + rng.normal(0.0, noise, n), 0.0, None)
    on_real = rng.integers(0, 2, n).astype(bool)
    direction = -1 if (volume * (error - 1) * np.where(on_real, 1, -1)).sum() < 0 else 1
    deviations = []
    for elements in anomalies:
        severity = rng.uniform(*setting.severity) + noise
        mask = np.logical_or.reduce([np.logical_and.reduce([frame[d].to_numpy() == v for d, v in e.items()])
                                     for e in elements])
        r = np.full(int(mask.sum()), severity)
        if spread_rng is not None and setting.deviation[1] > 0:
            deviation = spread_rng.uniform(*setting.deviation)
            r = spread_rng.normal(severity, deviation, r.size)
            deviations.append(round(float(deviation), 3))
        factor[mask] = np.maximum(1 - r, 0.0) if direction < 0 else 1 / np.maximum(1 - r, 1e-3)
    truth = {"&".join(f"{d}={v}" for d, v in sorted(e.items())) for elements in anomalies for e in elements}
    info = {"noise": noise, "anomalies": len(anomalies), "layers": [len(a[0]) for a in anomalies]}
    if deviations:
        info["deviation"] = deviations
    if measure == "sum":
        clean_real = np.where(on_real, volume * error, volume)
        predict = np.where(on_real, volume, volume * error)
        # Anomalous leaves: the forecast is right and the observation moves (noise reset, as in the paper).
        frame["real"] = np.where(factor != 1, predict * factor, clean_real)
        frame["predict"] = predict
        return frame, dims, truth, info
    rate = rng.uniform(0.5, 1.0, n)
    traffic_dim = dims[int(rng.integers(len(dims)))]
    traffic = dict(zip(sorted(frame[traffic_dim].unique()), rng.uniform(0.6, 1.6, frame[traffic_dim].nunique())))
    denominator = volume * frame[traffic_dim].map(traffic).to_numpy()
    frame["baseline_denominator"] = volume * HISTORY_DAYS
    frame["baseline_numerator"] = volume * HISTORY_DAYS * rate
    frame["denominator"] = denominator
    # Forecast error of the ratio; anomalous leaves keep an exact rate times the anomaly factor.
    frame["numerator"] = np.clip(denominator * rate * np.where(factor != 1, factor, error), 0.0, None)
    return frame, dims, truth, info


def tied(frame: pd.DataFrame, measure: str, missed: set[str], extra: set[str]) -> int:
    """How many `missed` true elements a wrongly `extra` element matches leaf for leaf: the same leaves
    that hold data (a parent whose other children are all zero), so no method could tell the two apart."""
    held = (frame["predict"] > 0) | (frame["real"] > 0) if measure == "sum" else frame["denominator"] > 0

    def leaves(element: str) -> frozenset[int]:
        if element == "(all)":
            mask = np.ones(len(frame), dtype=bool)
        else:
            mask = np.logical_and.reduce([frame[k].to_numpy() == v for k, v in
                                          (kv.split("=") for kv in element.split("&"))])
        return frozenset(np.flatnonzero(mask & held.to_numpy()))

    found = [leaves(e) for e in extra]
    return sum(1 for m in missed if leaves(m) in found)


def localise(frame: pd.DataFrame, dims: list[str], measure: str, max_causes: int = 5) -> set[str]:
    if measure == "sum":
        causes = localize(frame, dims, max_causes=max_causes)
    else:
        causes = localize_ratio(frame, dims, numerator="numerator", denominator="denominator",
                                baseline_numerator="baseline_numerator",
                                baseline_denominator="baseline_denominator", max_causes=max_causes)
    return {"&".join(f"{k}={v}" for k, v in sorted(c.elements.items())) if c.elements else "(all)"
            for c in causes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["S", "L"], choices=list(SETTINGS))
    parser.add_argument("--measure", nargs="+", default=["sum", "ratio"], choices=["sum", "ratio"])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-causes", default="truth",
                        help="causes asked of the localiser: a number, or 'truth' (default) for the most "
                             "elements a case of the set can have (S: 9, L: 5), so that the display cap "
                             "of 5 does not cut a true cause")
    parser.add_argument("--deviation", default="paper", choices=["paper", "none"],
                        help="per-leaf spread of an anomaly's factor: the paper's (S, H: sd U[0, 0.1]; "
                             "L: none), or none (every leaf of an anomaly moves by the same factor)")
    parser.add_argument("--verbose", action="store_true", help="print every case with an error")
    args = parser.parse_args(argv)
    if args.max_causes != "truth" and not (args.max_causes.isdigit() and int(args.max_causes) > 0):
        parser.error(f"--max-causes: a positive number or 'truth', got {args.max_causes!r}")
    print(f"seed {args.seed}, {args.cases} cases per set, max causes {args.max_causes}, "
          f"deviation {args.deviation}")
    print(f"{'set':<8} {'measure':<7} {'cases':>5} {'TP':>4} {'FP':>4} {'FN':>4} {'F1':>6} {'P':>6} {'R':>6} "
          f"{'s/case':>7} {'cpu s/case':>10} {'tied':>5} {'F1 ties either':>14}")
    for name in args.sets:
        offset = list(SETTINGS).index(name)     # a set's cases do not depend on the other sets run
        for measure in args.measure:
            rng = np.random.default_rng([args.seed, offset, 0 if measure == "sum" else 1])
            spread_rng = (np.random.default_rng([args.seed, offset, 0 if measure == "sum" else 1, 1])
                          if args.deviation == "paper" else None)
            setting = SETTINGS[name]
            cap = (setting.anomalies[1] * setting.elements[1] if args.max_causes == "truth"
                   else int(args.max_causes))
            tp = fp = fn = ties = 0
            seconds = cpu_seconds = 0.0
            for case in range(args.cases):
                frame, dims, truth, info = make_case(rng, SETTINGS[name], measure, spread_rng)
                start, cpu_start = time.perf_counter(), time.process_time()
                found = localise(frame, dims, measure, cap)
                seconds += time.perf_counter() - start
                cpu_seconds += time.process_time() - cpu_start
                tp, fp, fn = tp + len(found & truth), fp + len(found - truth), fn + len(truth - found)
                ties += tied(frame, measure, truth - found, found - truth)
                if args.verbose and found != truth:
                    print(f"  {name}/{measure}/{case} {info}: truth {sorted(truth)} found {sorted(found)}")
            f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
            precision = tp / (tp + fp) if tp + fp else 1.0
            recall = tp / (tp + fn) if tp + fn else 1.0
            # A tie counted right: the found element for the true one (one TP instead of an FP and an FN).
            f1_ties = 2 * (tp + ties) / (2 * (tp + ties) + (fp - ties) + (fn - ties)) if tp + fp + fn else 1.0
            print(f"{name:<8} {measure:<7} {args.cases:>5} {tp:>4} {fp:>4} {fn:>4} {f1:>6.3f} {precision:>6.3f}"
                  f" {recall:>6.3f} {seconds / args.cases:>7.3f} {cpu_seconds / args.cases:>10.3f} {ties:>5}"
                  f" {f1_ties:>14.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
