"""Seeded synthetic counterpart to the Squeeze benchmark, closer to client-vs-warehouse counts.

Squeeze B0 injects 40-100% changes into leaves with ~1% multiplicative noise, which a good method
localises perfectly. Event counts are Poisson and incidents are often smaller: this bench draws cubes
of platform x app_version x country x channel (3 x 8 x 20 x 4 = 1,920 leaves, lognormal volumes,
Poisson noise), injects 1-3 random elements of layer 1-3 with one change factor per regime, and
scores exact-element F1 as `squeeze_b0.py` does. The `none` regime injects nothing: its FP count is the
false-alarm rate on noise alone.

Usage: .venv/bin/python bench/rca/synthetic.py [--cases 40] [--seed 0]
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rootcause import localize  # noqa: E402

CARDINALITY = {"platform": 3, "app_version": 8, "country": 20, "channel": 4}
REGIMES = {"none": None, "drop 50%": 0.5, "drop 20%": 0.8, "drop 10%": 0.9, "rise 30%": 1.3}


def make_case(rng: np.random.Generator, factor: float | None) -> tuple[pd.DataFrame, set[str]]:
    dims = list(CARDINALITY)
    values = [[f"{dim[0]}{i}" for i in range(n)] for dim, n in CARDINALITY.items()]
    leaves = pd.DataFrame(list(itertools.product(*values)), columns=dims)
    leaves["predict"] = rng.lognormal(4.0, 1.3, size=len(leaves))
    change = np.ones(len(leaves))
    truth: set[str] = set()
    if factor is not None:
        while len(truth) < rng.integers(1, 4):
            layer = int(rng.integers(1, 4))
            chosen = sorted(rng.choice(len(dims), size=layer, replace=False))
            element = {dims[d]: values[d][rng.integers(len(values[d]))] for d in chosen}
            mask = np.logical_and.reduce([leaves[k].to_numpy() == v for k, v in element.items()])
            if (change[mask] != 1).any():
                continue   # keep the injected elements disjoint
            change[mask] = factor
            truth.add("&".join(f"{k}={v}" for k, v in sorted(element.items())))
    leaves["real"] = rng.poisson(leaves["predict"].to_numpy() * change).astype(float)
    return leaves, truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"{'regime':<10} {'cases':>5} {'TP':>4} {'FP':>4} {'FN':>4} {'F1':>6} {'s/case':>7}")
    for offset, (name, factor) in enumerate(REGIMES.items()):
        rng = np.random.default_rng([args.seed, offset])
        tp = fp = fn = 0
        seconds = 0.0
        for _ in range(args.cases):
            leaves, truth = make_case(rng, factor)
            start = time.perf_counter()
            causes = localize(leaves, list(CARDINALITY))
            seconds += time.perf_counter() - start
            found = {"&".join(f"{k}={v}" for k, v in sorted(c.elements.items())) for c in causes}
            tp, fp, fn = tp + len(found & truth), fp + len(found - truth), fn + len(truth - found)
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
        print(f"{name:<10} {args.cases:>5} {tp:>4} {fp:>4} {fn:>4} {f1:>6.3f} {seconds / args.cases:>7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
