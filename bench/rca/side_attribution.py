"""Which side moved, on seeded slice histories: right calls on client losses, drifts and warehouse
duplicates, and false calls on clean windows and on traffic surges.

`rootcause.side.attribute_side` on one slice and the rest of the table, both sides, without the
localiser or Spark, so every setting gets many windows in seconds. Each window is 56 clean history
days, then k incident days judged pooled (as a lasting incident is):

* the warehouse counts Poisson(size x traffic x weekday level x slice share), the rest of the table
  50 x 20,000 x traffic x weekday level; the client a binomial thinning of each (capture 0.93);
* traffic: a 0.1%-a-day growth common to every slice, times a common daily swing (lognormal, sd 0 or
  10%: the product's traffic moving every slice and both sides alike);
* slice share: flat, or growing 0.4% a day *in level* (a curve in the log scale the side test fits,
  so its models are all a little wrong: a calibration check where the truth is outside them);
* kinds: a client loss of 4% or 8% on 5 days, a client drift ramping to 10% over 14 days or to 7% over
  21 (day j of k loses depth x j / k), a warehouse duplicate of 5% on 3 days, and clean windows of 5,
  14 and 21 days (right: "undetermined"; any other call is false), and a surge: the slice's traffic
  10% above its history on 5 days on both sides alike (a campaign the history did not foresee; no
  side is wrong, so any call is false).

Reported per kind: right calls, wrong calls (a side named that is not the truth's) and windows,
summed over slice sizes (400, 1,500 and 6,000 warehouse events a day), swing and share trend, and
with `--verbose` per setting. `--seed` picks the random stream: 0 is the stream the side test's model
set was chosen on; report on others.

    .venv/bin/python bench/rca/side_attribution.py [--windows 60] [--seed 0] [--verbose]
"""
from __future__ import annotations

import argparse
import datetime as dt
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rootcause.side import SideVerdict, attribute_side  # noqa: E402

WEEKLY = [1.00, 1.03, 1.04, 1.02, 0.97, 0.82, 0.78]
START = dt.date(2026, 1, 5)       # a Monday
HISTORY_DAYS = 56
CAPTURE = 0.93
REST_EVENTS = 50 * 20_000
SIZES = (400, 1_500, 6_000)
SWINGS = (0.0, 0.10)
SHARE_TRENDS = (0.0, 0.004)
KINDS = (("loss", 5, 0.04), ("loss", 5, 0.08), ("drift", 14, 0.10), ("drift", 21, 0.07),
         ("duplicate", 3, 0.05), ("clean", 5, 0.0), ("clean", 14, 0.0), ("clean", 21, 0.0),
         ("surge", 5, 0.10))
TRUTH = {"loss": "client", "drift": "client", "duplicate": "warehouse", "clean": "undetermined",
         "surge": "undetermined"}


def window(rng: np.random.Generator, size: int, swing: float, share_trend: float, kind: str, k: int,
           depth: float) -> SideVerdict:
    """`attribute_side`'s verdict on one seeded window (see the module docstring)."""
    days = [START + dt.timedelta(days=i) for i in range(HISTORY_DAYS + k)]
    counts = np.zeros((4, len(days)))     # slice warehouse, slice client, rest warehouse, rest client
    for i, day in enumerate(days):
        traffic = float(np.exp(rng.normal(0.0, swing))) * WEEKLY[day.weekday()] * (1 + 0.001 * i)
        j = i - HISTORY_DAYS              # day of the incident, from 0; negative in the history
        surge = 1 + depth if j >= 0 and kind == "surge" else 1.0
        warehouse = rng.poisson(size * traffic * (1 + share_trend * j) * surge)
        rest = rng.poisson(REST_EVENTS * traffic)
        client, rest_client = rng.binomial(warehouse, CAPTURE), rng.binomial(rest, CAPTURE)
        if j >= 0 and kind == "loss":
            client -= rng.binomial(client, depth)
        elif j >= 0 and kind == "drift":
            client -= rng.binomial(client, depth * (j + 1) / k)
        elif j >= 0 and kind == "duplicate":
            warehouse += rng.binomial(warehouse, depth)
        counts[:, i] = warehouse, client, rest, rest_client
    past, now = slice(0, HISTORY_DAYS), slice(HISTORY_DAYS, None)
    warehouse, client, rest, rest_client = counts
    return attribute_side(days[past], client[past], warehouse[past], days[now], float(client[now].sum()),
                          float(warehouse[now].sum()),
                          rest={"client": (rest_client[past], rest_client[now]), "warehouse": (rest[past], rest[now])},
                          warehouse_daily=warehouse[now])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=60, help="windows per setting and kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="one line per setting and kind")
    args = parser.parse_args(argv)
    totals = {kind: [0, 0, 0] for kind in TRUTH}      # right, wrong, windows
    start = time.process_time()
    settings = list(itertools.product(SIZES, SWINGS, SHARE_TRENDS))
    for s, (size, swing, trend) in enumerate(settings):
        for k_index, (kind, k, depth) in enumerate(KINDS):
            rng = np.random.default_rng([args.seed, s, k_index])
            sides = [window(rng, size, swing, trend, kind, k, depth).side for _ in range(args.windows)]
            right = sum(side == TRUTH[kind] for side in sides)
            wrong = sum(side not in (TRUTH[kind], "undetermined") for side in sides)
            for i, value in enumerate((right, wrong, args.windows)):
                totals[kind][i] += value
            if args.verbose:
                print(f"  size {size:>5} swing {swing:.2f} share trend {trend:.3f} {kind:<9} {k:>2} days "
                      f"depth {depth:.2f}: right {right:>3}, wrong {wrong:>2} of {args.windows}")
    print(f"seed {args.seed}, {args.windows} windows per setting and kind, "
          f"{time.process_time() - start:.1f} CPU s")
    print(f"{'kind':<10} {'right':>6} {'wrong':>6} {'windows':>8}")
    for kind, (right, wrong, windows) in totals.items():
        print(f"{kind:<10} {right:>6} {wrong:>6} {windows:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
