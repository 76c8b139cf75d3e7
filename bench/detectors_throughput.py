"""Throughput and memory of the batch detector runner on daily series, against a per-series STL loop.

    .venv/bin/python bench/detectors_throughput.py [--series 10000] [--days 730] [--stl-subset 200]

Synthetic client/warehouse daily counts (weekly pattern, Poisson noise) for N series x D days. The
batch runner evaluates the last day with the production detector set (seasonal_mad, ratio_binomial,
cusum, changepoint; all causal, vectorised over series). The baseline is the usual per-series loop:
statsmodels STL (robust, period 7) on each series' history, then a MAD z-score of the last residual;
it is timed on a subset and extrapolated. Peak memory of `evaluate` (tracemalloc, numpy included) is
measured at several series counts, with the input frame built beforehand and reported separately.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from detectors import DetectorSpec, evaluate  # noqa: E402

PRODUCTION = [DetectorSpec(name) for name in ("seasonal_mad", "ratio_binomial", "cusum", "changepoint")]
WEEKDAY_SHAPE = np.array([1.0, 1.05, 1.1, 1.05, 0.95, 0.6, 0.55])
START = dt.date(2024, 1, 1)


def synthetic_history(n_series: int, days: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    level = rng.lognormal(mean=8.0, sigma=1.5, size=(n_series, 1))
    warehouse = rng.poisson(level * np.resize(WEEKDAY_SHAPE, days)).astype(float)
    client = rng.binomial(warehouse.astype(np.int64), rng.uniform(0.95, 0.99, size=(n_series, 1))).astype(float)
    dates = pd.date_range(START, periods=days).date
    return pd.DataFrame(
        {
            "series_id": np.repeat(np.array([f"s{i:06d}" for i in range(n_series)], dtype=object), days),
            "partition": np.tile(dates, n_series),
            "value": client.ravel(),
            "denominator": warehouse.ravel(),
        }
    )


def stl_last_point(values: np.ndarray) -> float:
    from statsmodels.tsa.seasonal import STL

    fit = STL(values, period=7, robust=True).fit()
    resid = np.asarray(fit.resid)
    scale = 1.4826 * np.median(np.abs(resid[:-1] - np.median(resid[:-1])))
    return float(resid[-1] / scale) if scale > 0 else 0.0


def frame_bytes(frame: pd.DataFrame) -> int:
    return int(frame.memory_usage(deep=True).sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--stl-subset", type=int, default=200)
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[2_500, 5_000, 10_000])
    args = parser.parse_args(argv)

    history = synthetic_history(args.series, args.days)
    at = history["partition"].max()
    print(f"{args.series:,} series x {args.days} days ({len(history):,} rows), evaluating {at}")
    print(f"detectors: {', '.join(s.name for s in PRODUCTION)}")

    started = time.perf_counter()
    result = evaluate(history, at, PRODUCTION)
    batch_seconds = time.perf_counter() - started
    batch_rate = args.series / batch_seconds
    anomalies = int((result.status == "anomaly").sum())
    print(f"batch runner:        {batch_seconds:8.2f} s   {batch_rate:10,.0f} series/s   ({anomalies} anomalies in {len(result):,} rows)")

    ratio = history.loc[history.series_id.isin(history.series_id.unique()[: args.stl_subset])]
    matrix = (ratio.value / ratio.denominator).to_numpy().reshape(args.stl_subset, args.days)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        for row in matrix:
            stl_last_point(row)
        stl_seconds = time.perf_counter() - started
    stl_rate = args.stl_subset / stl_seconds
    print(
        f"per-series STL loop: {stl_seconds:8.2f} s   {stl_rate:10,.0f} series/s   "
        f"(on {args.stl_subset} series; {args.series / stl_rate:,.0f} s extrapolated to {args.series:,})"
    )
    print(f"speed-up of the batch runner (4 detectors) over STL (1 detector): {batch_rate / stl_rate:,.1f}x")

    print("peak memory of evaluate() (tracemalloc), input frame built beforehand:")
    for n in args.memory_sizes:
        frame = synthetic_history(n, args.days, seed=1)
        tracemalloc.start()
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        evaluate(frame, at, PRODUCTION)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        per_series = (peak - base) / n
        print(
            f"  {n:>6,} series: peak {(peak - base) / 2**20:8.1f} MiB  ({per_series / 1024:5.1f} KiB/series; "
            f"input frame {frame_bytes(frame) / 2**20:7.1f} MiB)"
        )
        del frame
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
