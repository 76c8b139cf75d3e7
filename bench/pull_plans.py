"""Benchmark: the all-slices pull against two baselines, on demo tables of 10M and 50M rows a side.

    .venv/bin/python bench/pull_plans.py [--sizes 10 50] [--out bench/out/pull_plans]

For each size it generates the demo warehouse at scale (one file per day), then times, in the same
Spark session and the same run:
  ours  - pulls.pull_range: every metric, every monitored slice + leaves, all partitions, one scan
          per table (leaves first, then GROUPING SETS over the small leaf result)
  (a)   - one hand-written leaf-level GROUP BY over the partition column and all dimensions
          (the cheapest query that reads the same columns)
  (b)   - Spark's plain GROUPING SETS over the raw rows (same sets as ours)
and reports rows/s, the ratios ours/(a) and ours/(b), and the driver's memory (Python resident set and
JVM heap used after the query) so growth with rows is visible.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mq.config import load_config  # noqa: E402
from mq.demo import DemoSpec, generate  # noqa: E402
from mq.spark import get_spark  # noqa: E402
from pulls import register_tables  # noqa: E402
from pulls.pull import pull_range, table_plan  # noqa: E402

DAYS = 56   # the demo's minimum; rows/side = millions spread over these days
# The demo's weekly pattern (weekend dip) and the client side's losses leave on average about 0.95
# of `daily_events` rows per day and side; scale up so each side holds at least the asked millions.
ROWS_PER_DAILY_EVENT = 0.945


def rss_mb() -> float:
    """Current resident memory of this (driver) process, not the peak: generation ran here too."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def jvm_heap_mb(spark) -> float:
    rt = spark.sparkContext._jvm.java.lang.Runtime.getRuntime()
    spark.sparkContext._jvm.java.lang.System.gc()
    return (rt.totalMemory() - rt.freeMemory()) / 2**20


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 50], help="millions of warehouse rows")
    ap.add_argument("--out", default=str(REPO / "bench" / "out" / "pull_plans"))
    ap.add_argument("--repeat", type=int, default=3, help="timed repetitions (best is reported)")
    args = ap.parse_args()
    spark = get_spark(conf={"spark.sql.shuffle.partitions": "8"})
    import os

    print(f"machine: {os.cpu_count()} cores, Spark {spark.version}, master {spark.sparkContext.master}")
    print(f"{'rows/side':>10} {'variant':28s} {'seconds':>8} {'Mrows/s':>8} {'vs (a)':>7} {'vs (b)':>7} "
          f"{'py RSS MB':>9} {'JVM heap MB':>11}")
    for millions in args.sizes:
        spec = DemoSpec(days=DAYS, daily_events=int(millions * 1_000_000 / DAYS / ROWS_PER_DAILY_EVENT), seed=3)
        folder = Path(args.out) / f"{millions}M-{spec.daily_events}"   # cached per generator spec
        if not (folder / "incidents.json").exists():
            t, _ = timed(lambda: generate(folder / "warehouse", spec))
            (folder / "incidents.json").write_text("{}")
            print(f"generated {millions}M rows/side in {t:.0f}s")
        os.environ["MQ_DEMO_DIR"] = str(folder)
        config = load_config(REPO / "config" / "demo.yml")
        register_tables(spark, config)
        start, end = spec.dates[0], spec.dates[-1]
        rows = sum(spark.table(t).count() for t in ("client_events", "warehouse_events"))
        results, runs = {}, variants(spark, config, start, end)
        for run in runs.values():   # warm-up: JIT, file listing, OS page cache; not timed
            run()
        times = {name: [] for name in runs}
        for _ in range(args.repeat):   # interleaved, so load changes hit every variant alike
            for name, run in runs.items():
                times[name].append(timed(run)[0])
        for name in runs:
            best = min(times[name])
            results[name] = best
            rss = rss_mb()
            a, b = results.get("(a) leaf GROUP BY"), results.get("(b) plain GROUPING SETS")
            ratio_a = f"{results['ours: pull_range'] / a:7.2f}" if a and name.startswith("(a)") else ""
            ratio_b = f"{results['ours: pull_range'] / b:7.2f}" if b and name.startswith("(b)") else ""
            print(f"{rows / 2 / 1e6:9.1f}M {name:28s} {best:8.2f} {rows / best / 1e6:8.2f} {ratio_a:>7} "
                  f"{ratio_b:>7} {rss:9.0f} {jvm_heap_mb(spark):11.0f}")


def variants(spark, config, start: dt.date, end: dt.date) -> dict:
    def ours():
        for table in ("client_events", "warehouse_events"):
            pull_range(spark, config, table, start, end)

    def leaf_group_by():
        for table in ("client_events", "warehouse_events"):
            dims, _, _ = table_plan(config, table)
            spark.sql(f"SELECT ds, {', '.join(dims)}, COUNT(*) AS n FROM {table} "
                      f"WHERE ds BETWEEN :s AND :e GROUP BY ds, {', '.join(dims)}",
                      args={"s": start, "e": end}).toPandas()

    def plain_grouping_sets():
        for table in ("client_events", "warehouse_events"):
            dims, groupings, _ = table_plan(config, table)
            sets = ", ".join("(" + ", ".join(["ds", *g]) + ")" for g in groupings)
            spark.sql(f"SELECT ds, {', '.join(dims)}, COUNT(*) AS n FROM {table} "
                      f"WHERE ds BETWEEN :s AND :e GROUP BY GROUPING SETS ({sets})",
                      args={"s": start, "e": end}).toPandas()

    return {"ours: pull_range": ours, "(a) leaf GROUP BY": leaf_group_by,
            "(b) plain GROUPING SETS": plain_grouping_sets}


if __name__ == "__main__":
    main()
