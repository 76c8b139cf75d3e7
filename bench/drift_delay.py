"""How fast the ratio drift chart finds slow capture drifts, and how often it fires on clean series.

A small, seeded stand-in for the slow-drift part of `bench/incident_recall.py` that runs in minutes
without Spark or the demo's generator: binomial client/warehouse series (client a thinning of the
warehouse count) with the slice sizes and capture rates of the at-scale demo (`mq.demo`: 20,000
events a day before the weekly pattern, 24 countries, 6 app versions per mobile platform, 6 event
types), some of them overdispersed (a relative day-to-day capture noise of 0.5% or 1%, Student-t with
5 degrees of freedom, so heavier tailed than the model assumes). Every run of a seed scores one
false-discovery family of the at-scale config's size: 47 slices x 4 tests a day (two count metrics,
two pair detectors) = 188 tests, here 188 ratio series under the drift detector alone, so the
Benjamini-Hochberg bar a lone drift must pass is the pipeline's.

- Drifts: 12 a seed, each in a family of its own (the demo's drifts are weeks apart), on a country or
  a platform as the demo draws them: capture falls linearly at 0.3-0.7% a day (day 0 of the drift
  already down by one day's rate) for 14-21 days.
  Reported: share found within 7 days of onset (first anomaly on days 0..6), median delay of those
  found within 14 days, anomalies on the drifted series before onset.
- Clean: the same family with no drift for two years; false alarms per 1,000 slice-days (anomaly
  days) and alarm episodes (runs of anomaly days).

Both charts run on the same data in the same run: `cusum` (Page's CUSUM, the minimum effect on the
observed day) and `ramp` (the ramp GLR, the minimum effect on its level so far or projected over
`alerting.drift_horizon_days`). The decision is the runner's (`detectors.evaluate_range`) with the
demo config's fdr_q, min_relative_effect and drift horizon.

    python bench/drift_delay.py --seeds 1,2,3 --clean-days 400     # design seeds
    python bench/drift_delay.py --seeds 101,102,103,104,105        # report seeds (about 20 minutes on 2 cores)
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.config import load_config  # noqa: E402
from detectors import DetectorSpec, evaluate_range  # noqa: E402
from mq.demo import CAPTURE, MORE_COUNTRIES, PLATFORMS, WEEKLY, _zipf  # noqa: E402

START = dt.date(2025, 1, 6)   # a Monday
DAILY_EVENTS = 20_000
ONSET = 70                    # the drift's first day (56 days of history before the scored range)
FAMILY_COPIES = 4             # 47 slices x 4 = 188 tests a day, the at-scale family
DRIFTS = 12
NOISE_LEVELS = (0.0, 0.005, 0.01)   # relative sd of the daily capture noise (0: binomial only)


def demo_slices() -> list[tuple[str, float, float]]:
    """(kind, warehouse events a day, capture rate) of the at-scale demo's 47 monitored slices."""
    countries = _zipf(MORE_COUNTRIES[:24], 0.9)
    mix = sum(PLATFORMS[p] * CAPTURE[p] for p in PLATFORMS)
    out = [("total", DAILY_EVENTS, mix)]
    out += [("platform", DAILY_EVENTS * share, CAPTURE[p]) for p, share in PLATFORMS.items()]
    out += [("country", DAILY_EVENTS * share, mix) for share in countries.values()]
    out += [("event_type", DAILY_EVENTS * share, mix) for share in _zipf([str(i) for i in range(6)], 1.0).values()]
    weights = [float(i + 1) for i in range(5)] + [0.66 * 5]
    for p in ("ios", "android"):
        out += [("platform_version", DAILY_EVENTS * PLATFORMS[p] * w / sum(weights), CAPTURE[p]) for w in weights]
    out.append(("platform_version", DAILY_EVENTS * PLATFORMS["web"], CAPTURE["web"]))
    return out


def family(seed: int, days: int, drifts: int) -> tuple[pd.DataFrame, list[dict]]:
    """188 series of `days` days; `drifts` of the country/platform ones drift from ONSET."""
    rng = np.random.default_rng(seed)
    slices = demo_slices() * FAMILY_COPIES
    n = len(slices)
    size = np.array([s[1] for s in slices])
    capture = np.array([s[2] for s in slices])
    noise = rng.choice(NOISE_LEVELS, size=n)
    weekly = np.array([WEEKLY[(START + dt.timedelta(days=d)).weekday()] for d in range(days)])
    warehouse = rng.poisson(size[:, None] * weekly[None, :] * (1 + 0.0015 * np.arange(days))[None, :])
    rate = capture[:, None] * (1 + noise[:, None] * rng.standard_t(5, size=(n, days)) / np.sqrt(5 / 3))
    candidates = [i for i, s in enumerate(slices) if s[0] in ("country", "platform")]
    truth = []
    for i in rng.choice(candidates, size=drifts, replace=False):
        slope, length = float(rng.uniform(0.003, 0.007)), int(rng.integers(14, 22))
        ramp = np.zeros(days)
        ramp[ONSET : ONSET + length] = slope * np.arange(1, length + 1)[: days - ONSET]
        rate[i] *= 1 - ramp
        truth.append({"series_id": f"s{i:03d}", "slope": slope, "events": size[i], "noise": noise[i]})
    client = rng.binomial(warehouse, np.clip(rate, 0, 1))
    frame = pd.DataFrame({
        "series_id": np.repeat([f"s{i:03d}" for i in range(n)], days),
        "partition": np.tile([START + dt.timedelta(days=d) for d in range(days)], n),
        "value": client.ravel().astype(float), "denominator": warehouse.ravel().astype(float)})
    return frame, truth


def day(k: int) -> dt.date:
    return START + dt.timedelta(days=k)


def run(frame: pd.DataFrame, first: int, last: int, spec: DetectorSpec, a) -> pd.DataFrame:
    out = evaluate_range(frame, day(first), day(last), [spec], fdr_q=a.fdr_q,
                         min_relative_effect=a.min_relative_effect, min_absolute_effect=a.min_absolute_effect,
                         drift_horizon_days=a.drift_horizon_days, engine="local")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="101,102,103,104,105")
    ap.add_argument("--clean-days", type=int, default=730)
    ap.add_argument("--charts", default="cusum,ramp")
    ap.add_argument("--together", dest="one_drift", action="store_false",
                    help="all 12 drifts of a seed in one family (they then lower each other's FDR bar)")
    ap.add_argument("--params", default="", help="extra ratio_drift params for the ramp chart, k=v,...")
    ap.add_argument("--horizon", type=int, help="a what-if: alerting.drift_horizon_days instead of the config's")
    ap.add_argument("--min-effect", type=float, help="a what-if: alerting.min_relative_effect instead of the config's")
    args = ap.parse_args()
    os.environ.setdefault("MQ_DEMO_DIR", str(REPO / "demo_out"))
    alerting = load_config(REPO / "config" / "demo.yml").alerting
    what_if = {k: v for k, v in (("drift_horizon_days", args.horizon), ("min_relative_effect", args.min_effect))
               if v is not None}
    alerting = alerting.model_copy(update=what_if)
    extra = {k: (float(v) if "." in v else int(v)) for k, v in (kv.split("=") for kv in args.params.split(",") if kv)}
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"load average {os.getloadavg()[0]:.2f}; fdr_q={alerting.fdr_q} min_relative_effect="
          f"{alerting.min_relative_effect} drift_horizon_days={alerting.drift_horizon_days}; seeds {seeds}")
    for chart in args.charts.split(","):
        spec = DetectorSpec("ratio_drift", {"chart": chart, **(extra if chart == "ramp" else {})})
        delays, early, false_days, episodes, slice_days, t0 = [], 0, 0, 0, 0, time.time()
        by_slope = []
        for seed in seeds:
            # One drift per family, as in the demo (its drifts are weeks apart): several drifts in one
            # day's family would lower each other's false-discovery bar.
            for number in range(DRIFTS if args.one_drift else 1):
                frame, truth = family(seed * 100 + number if args.one_drift else seed, ONSET + 28,
                                      1 if args.one_drift else DRIFTS)
                found = run(frame, ONSET - 14, ONSET + 27, spec, alerting)
                hits = found[found.status == "anomaly"]
                for t in truth:
                    mine = hits[hits.series_id == t["series_id"]]
                    offsets = [(p - day(ONSET)).days for p in mine.partition]
                    early += sum(1 for o in offsets if o < 0)
                    after = [o for o in offsets if o >= 0]
                    delays.append(min(after) if after else np.inf)
                    by_slope.append((t["slope"], t["events"], t["noise"], delays[-1]))
            if not args.clean_days:
                continue
            clean, _ = family(seed + 10_000, args.clean_days, 0)
            verdicts = run(clean, 60, args.clean_days - 1, spec, alerting)
            alarms = verdicts.pivot(index="partition", columns="series_id", values="status").eq("anomaly").to_numpy()
            false_days += int(alarms.sum())
            episodes += int((alarms[1:] & ~alarms[:-1]).sum() + alarms[0].sum())
            slice_days += alarms.size
        slice_days = max(slice_days, 1)
        delays = np.array(delays)
        within = np.mean(delays < 7)
        found14 = delays[np.isfinite(delays)]
        noisy = {nz: f"{np.sum(np.array([d for s_, e, n_, d in by_slope if n_ == nz]) < 7)}/"
                        f"{sum(1 for s_, e, n_, d in by_slope if n_ == nz)}" for nz in NOISE_LEVELS}
        print(f"{chart:6s} within 7 d by extra noise: " + ", ".join(f"{k:.1%}: {v}" for k, v in noisy.items()))
        print(f"{chart:6s} drifts found within 7 d: {np.sum(delays < 7)}/{delays.size} ({within:.0%}); "
              f"found at all (28 d): {found14.size}/{delays.size}; median delay "
              f"{np.median(found14) if found14.size else float('nan'):.1f} d; anomalies before onset: {early}; "
              + (f"clean: {false_days / slice_days * 1000:.3f} false alarm days and "
                 f"{episodes / slice_days * 1000:.3f} episodes per 1,000 slice-days ({slice_days:,} slice-days); "
                 if args.clean_days else "")
              + f"{time.time() - t0:.0f} s")
        slow = sorted(by_slope)
        late = [f"{s:.2%}/d {e:,.0f} ev noise {nz:.1%}: {d}" for s, e, nz, d in slow if not d < 7]
        if late:
            print(f"       not within 7 d: " + "; ".join(late))


if __name__ == "__main__":
    main()
