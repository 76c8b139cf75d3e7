"""Benchmark: the project's validation path vs one hand-written Spark SQL aggregate, same data, same run.

A synthetic 10M-row partition (spark.range, written once to Parquet under bench/out/ and read back,
as the pipeline reads a partition) with a duplicated slice of ids and a few unknown platforms, so
two expectations fail and their unexpected values must be fetched. A suite of 10 expectations,
uniqueness of event_id included.

    .venv/bin/python bench/gx_validation.py                 # the comparison (~2-3 min on 2 cores)
    .venv/bin/python bench/gx_validation.py --variants      # plus what dominates (~4 more minutes)

Reports wall seconds (best of --repeat runs) and Spark jobs (status tracker, per job group).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DAY = dt.date(2026, 1, 5)
SUITE_YAML = """\
table: bench_events
expectations:
  - expect_table_columns_to_match_set: {column_set: [event_id, event_ts, event_type, platform, country, user_id], exact_match: false}
  - expect_column_values_to_be_of_type: {column: event_id, type_: StringType}
  - expect_table_row_count_to_be_between: {min_value: 1000000, max_value: 50000000}
  - expect_column_values_to_not_be_null: {column: event_id}
  - expect_column_values_to_be_unique: {column: event_id}
  - expect_column_values_to_not_be_null: {column: user_id, mostly: 0.98}
  - expect_column_values_to_be_in_set: {column: platform, value_set: [ios, android, web]}
  - expect_column_values_to_be_in_set: {column: event_type, value_set: [page_view, click, purchase, signup, share]}
  - expect_column_values_to_be_in_set: {column: country, value_set: [US, IN, BR, DE, JP, GB, FR, MX]}
  - expect_partition_freshness: {column: event_ts, max_lag_hours: 6}
"""
# The same ten checks as one aggregate query (types and column names come from the schema).
HAND_SQL = """
SELECT count(1)                                                       AS row_count,
       count(1) - count(event_id)                                     AS event_id_nulls,
       count(event_id) - count(DISTINCT event_id)                     AS duplicate_ids,
       (count(1) - count(user_id)) / count(1)                         AS user_id_null_share,
       count_if(platform NOT IN ('ios', 'android', 'web'))            AS bad_platform,
       count_if(event_type NOT IN ('page_view', 'click', 'purchase', 'signup', 'share')) AS bad_event_type,
       count_if(country NOT IN ('US', 'IN', 'BR', 'DE', 'JP', 'GB', 'FR', 'MX')) AS bad_country,
       max(event_ts)                                                  AS newest_event_ts
FROM bench_partition
"""


def generate(spark, path: Path, rows: int) -> None:
    """Ids duplicated for 1 row in 1000 (a duplicated load), 1% null user ids, 50 unknown platforms."""
    step = 86_399.0 / rows
    (spark.range(rows, numPartitions=8).selectExpr(
        "concat('20260105-', if(id % 1000 = 999, id - 1, id)) AS event_id",
        f"timestamp_ntz'2026-01-05 00:00:00' + make_dt_interval(0, 0, 0, id * {step}) AS event_ts",
        "element_at(array('page_view', 'click', 'purchase', 'signup', 'share'), cast(id * 7 % 5 + 1 AS int)) AS event_type",
        "if(id % 200000 = 7, 'tv', element_at(array('ios', 'android', 'web'), cast(id % 3 + 1 AS int))) AS platform",
        "element_at(array('US', 'IN', 'BR', 'DE', 'JP', 'GB', 'FR', 'MX'), cast(id * 13 % 8 + 1 AS int)) AS country",
        "if(id % 100 = 3, NULL, concat('u', id * 7919 % 400000)) AS user_id")
     .write.mode("overwrite").parquet(str(path)))
    (path / "_rows").write_text(str(rows))


def timed(spark, group: str, fn):
    sc = spark.sparkContext
    sc.setJobGroup(group, group)
    start = time.perf_counter()
    try:
        value = fn()
    finally:
        seconds = time.perf_counter() - start
        sc.setJobGroup("", "")
    jobs = len(sc.statusTracker().getJobIdsForGroup(group))
    return value, seconds, jobs


def best(spark, label: str, fn, repeat: int) -> dict:
    runs = [timed(spark, f"{label}-{i}", fn) for i in range(repeat)]
    value, seconds, jobs = min(runs, key=lambda r: r[1])
    row = {"label": label, "seconds": round(seconds, 2), "all_seconds": [round(r[1], 2) for r in runs],
           "jobs": jobs}
    print(f"  {label:<46} {seconds:7.2f} s  {jobs:3d} jobs   runs: {row['all_seconds']}", flush=True)
    return {**row, "value": value}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--variants", action="store_true", help="also time caching, SUMMARY and the suite without uniqueness")
    args = parser.parse_args(argv)

    from mq.spark import get_spark

    t0 = time.perf_counter()
    spark = get_spark(master="local[2]")
    print(f"SparkSession {time.perf_counter() - t0:.1f} s; cores 2 (local[2]); "
          f"shuffle partitions {spark.conf.get('spark.sql.shuffle.partitions')}", flush=True)
    data = REPO / "bench" / "out" / f"gx_validation_{args.rows}"
    if not (data / "_rows").exists():
        t0 = time.perf_counter()
        generate(spark, data, args.rows)
        print(f"generated {args.rows:,} rows in {time.perf_counter() - t0:.1f} s -> {data}", flush=True)
    df = spark.read.parquet(str(data))
    df.createOrReplaceTempView("bench_partition")

    t0 = time.perf_counter()
    from checks import parse_suite, validate_partition
    from checks import gx_runtime
    suite = parse_suite(SUITE_YAML, "bench/gx_validation.py:SUITE_YAML")
    gx_runtime.context()
    print(f"import GX + load suite + context {time.perf_counter() - t0:.1f} s (once per process)", flush=True)

    spark.sql("SELECT count(1) FROM bench_partition").collect()   # warm the JVM and the file listing
    results = {}
    print("comparison:")
    for round_ in range(args.repeat):
        # Interleave so neither side profits alone from a warmer JVM or page cache.
        results.setdefault("hand", []).append(timed(spark, f"hand-{round_}", lambda: spark.sql(HAND_SQL).collect()))
        results.setdefault("mq", []).append(timed(
            spark, f"mq-{round_}", lambda: validate_partition(df, suite, partition=DAY)))
    for name, runs in results.items():
        print(f"  {name:<6} runs (s, jobs): {[(round(s, 2), j) for _, s, j in runs]}")
    hand = min(results["hand"], key=lambda r: r[1])
    mq = min(results["mq"], key=lambda r: r[1])
    ratio = mq[1] / hand[1]
    print(f"RESULT project path {mq[1]:.2f} s ({mq[2]} jobs) vs hand-written SQL {hand[1]:.2f} s "
          f"({hand[2]} jobs): ratio {ratio:.2f}x")
    check = mq[0]
    print("  failing:", json.dumps([{"expectation": o.expectation, "column": o.column,
                                     "unexpected_count": o.unexpected_count, "sample": o.unexpected_sample}
                                    for o in check.failures]))
    print("  hand-written values:", hand[0][0].asDict())

    if args.variants:
        variants(spark, df, suite, args.repeat)
    return 0


def variants(spark, df, suite, repeat: int) -> None:
    """Where the time goes: caching, GX's SUMMARY format, and uniqueness on each side."""
    from checks import gx_runtime, parse_suite, validate_partition
    from checks.binding import bind

    gx_all = [b.gx for b in bind(suite, df.schema, DAY)]
    print("variants:")
    best(spark, "project path with persist()", lambda: validate_partition(df, suite, partition=DAY, persist=True), repeat)
    best(spark, "GX SUMMARY, whole suite, one pass", lambda: gx_runtime.run_expectations(
        df, gx_all, asset_name="bench", result_format="SUMMARY"), repeat)
    without_unique = parse_suite(SUITE_YAML.replace("  - expect_column_values_to_be_unique: {column: event_id}\n", ""))
    best(spark, "project path without uniqueness (9 checks)",
         lambda: validate_partition(df, without_unique, partition=DAY), repeat)
    best(spark, "hand SQL without the distinct count",
         lambda: spark.sql(HAND_SQL.replace("count(event_id) - count(DISTINCT event_id)", "0")).collect(), repeat)


if __name__ == "__main__":
    raise SystemExit(main())
