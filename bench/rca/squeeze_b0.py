"""Benchmark `rootcause.localize` on the Squeeze B0 subset (108 cases, 9 settings).

Data: ``<repo>/../shared/bench/rca/squeeze_B0`` (Li et al., "Generic and Robust Localization of
Multi-Dimensional Root Causes", ISSRE 2019; dataset B0). Scoring as in Squeeze's and RiskLoc's
evaluators: a predicted element is a true positive only if it equals a ground-truth element exactly
(same attribute=value pairs, any order); TP/FP/FN are summed per setting; F1 = 2TP / (2TP + FP + FN).

Usage: .venv/bin/python bench/rca/squeeze_b0.py [--data DIR] [--setting NAME] [--verbose]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from rootcause import localize  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "bench" / "rca" / "squeeze_B0"
DIMENSIONS = ("a", "b", "c", "d")


def canonical(element: str) -> str:
    """`b=b3&a=a1` -> `a=a1&b=b3`: element identity ignores pair order."""
    return "&".join(sorted(pair.strip() for pair in element.split("&")))


def truth_of(info: pd.DataFrame, timestamp: int) -> set[str]:
    rows = info.loc[info["timestamp"] == timestamp, "set"]
    if rows.empty:
        raise ValueError(f"timestamp {timestamp} not found in injection_info.csv")
    return {canonical(element) for element in rows.iloc[0].split(";")}


def predicted_of(leaves: pd.DataFrame) -> set[str]:
    causes = localize(leaves, DIMENSIONS)
    return {canonical("&".join(f"{k}={v}" for k, v in cause.elements.items())) for cause in causes}


def score(truth: set[str], predicted: set[str]) -> tuple[int, int, int]:
    tp = len(truth & predicted)
    return tp, len(predicted) - tp, len(truth) - tp


def f1_row(name: str, tp: int, fp: int, fn: int, seconds: float, cases: int) -> str:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return (f"{name:<26} {cases:>5} {tp:>4} {fp:>4} {fn:>4} {f1:>6.3f} {precision:>6.3f} {recall:>6.3f}"
            f" {seconds / max(cases, 1):>7.3f}")


def run_setting(folder: Path, verbose: bool) -> tuple[int, int, int, float, int]:
    info = pd.read_csv(folder / "injection_info.csv")
    tp = fp = fn = 0
    seconds, cases = 0.0, 0
    for path in sorted(folder.glob("*.csv.gz")):
        timestamp = int(path.name.split(".")[0])
        truth = truth_of(info, timestamp)
        leaves = pd.read_csv(path, dtype={dim: str for dim in DIMENSIONS})
        start = time.perf_counter()
        predicted = predicted_of(leaves)
        seconds += time.perf_counter() - start
        case = score(truth, predicted)
        tp, fp, fn = tp + case[0], fp + case[1], fn + case[2]
        cases += 1
        if verbose and (case[1] or case[2]):
            print(f"  {folder.name}/{path.name}: truth {sorted(truth)} predicted {sorted(predicted)}")
    return tp, fp, fn, seconds, cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--setting", help="run one setting folder only, e.g. B_cuboid_layer_1_n_ele_1")
    parser.add_argument("--verbose", action="store_true", help="print every case with an error")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"benchmark data not found at {args.data}", file=sys.stderr)
        return 2
    settings = sorted(p for p in args.data.iterdir() if p.is_dir() and p.name.startswith("B_"))
    if args.setting:
        settings = [p for p in settings if p.name == args.setting]
    print(f"{'setting':<26} {'cases':>5} {'TP':>4} {'FP':>4} {'FN':>4} {'F1':>6} {'P':>6} {'R':>6} {'s/case':>7}")
    totals = [0, 0, 0, 0.0, 0]
    for folder in settings:
        result = run_setting(folder, args.verbose)
        print(f1_row(folder.name, result[0], result[1], result[2], result[3], result[4]))
        totals = [total + part for total, part in zip(totals, result)]
    print(f1_row("overall", *totals[:4], totals[4]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
