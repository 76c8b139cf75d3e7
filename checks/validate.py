"""Validate one partition's Spark DataFrame against a suite and return a `CheckResult`.

The partition is validated in two passes. The fast pass decides every
expectation and keeps the observed values and unexpected counts, which GX computes anyway, but asks
for no unexpected values (fetching them costs Spark jobs per expectation). The sample pass, over
the failing row-level expectations only, fetches a few unexpected values. Passing partitions (the
common case) pay for the fast pass alone. The data never leaves Spark except for those few values.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from checks import gx_runtime
from checks.binding import BoundExpectation, bind, driver_local_to_utc
from checks.result import CheckResult, ExpectationOutcome, jsonable_value
from checks.spec import SuiteSpec

SAMPLE_SIZE = 5
# BASIC with no unexpected values runs the same Spark jobs as BOOLEAN_ONLY but keeps the numbers.
FAST_RESULT_FORMAT: Any = {"result_format": "BASIC", "partial_unexpected_count": 0}
# Enough unexpected rows to find SAMPLE_SIZE distinct values even when each one repeats (duplicates).
SAMPLE_RESULT_FORMAT: Any = {"result_format": "BASIC", "partial_unexpected_count": 4 * SAMPLE_SIZE}


def validate_partition(df, suite: SuiteSpec, *, partition: dt.date, persist: bool = False) -> CheckResult:
    """Run `suite` on `df` (the DataFrame of one partition of `suite.table`).

    `persist=True` caches the partition for the passes and releases it afterwards. Off by default:
    on a Parquet partition each GX job reads only the columns it needs, and building the cache
    (every column, deserialised) cost more than it saved (bench/gx_validation.py --variants).
    Raises ConfigError before any Spark job if the suite names a column `df` lacks.
    """
    if not isinstance(partition, dt.date) or isinstance(partition, dt.datetime):
        raise TypeError(f"partition must be a datetime.date, got {partition!r}")
    bound = bind(suite, df.schema, partition)
    cached_here = persist and not df.is_cached
    if cached_here:
        df = df.persist()
    try:
        fast = gx_runtime.run_expectations(df, [b.gx for b in bound], asset_name=suite.table,
                                           result_format=FAST_RESULT_FORMAT)
        failing = [i for i, r in enumerate(fast) if not r.success and not _raised(r) and bound[i].is_map]
        details = dict(zip(failing, gx_runtime.run_expectations(
            df, [bound[i].gx for i in failing], asset_name=suite.table,
            result_format=SAMPLE_RESULT_FORMAT))) if failing else {}
    finally:
        if cached_here:
            df.unpersist()
    outcomes = [to_outcome(b, details.get(i, r)) for i, (b, r) in enumerate(zip(bound, fast))]
    return CheckResult(suite=suite.name, table=suite.table, partition=partition,
                       success=all(o.success for o in outcomes), suite_hash=suite.version_hash,
                       expectations=outcomes)


def to_outcome(bound: BoundExpectation, result) -> ExpectationOutcome:
    """Normalise one GX ExpectationValidationResult."""
    details = dict(result.result or {})
    error = None
    if _raised(result):
        error = (result.exception_info or {}).get("exception_message") or "expectation raised an error"
    observed = details.get("observed_value")
    if bound.local_timestamps:
        observed = driver_local_to_utc(observed)
    if observed is None and bound.is_map and details.get("unexpected_percent") is not None:
        # For row-level expectations the measured quantity is the share of rows that pass,
        # which is what `mostly` is compared with.
        observed = round(1.0 - details["unexpected_percent"] / 100.0, 6)
    return ExpectationOutcome(
        expectation=bound.spec.name, column=bound.spec.column, success=bool(result.success) and error is None,
        observed_value=jsonable_value(observed), threshold=jsonable_value(bound.threshold),
        unexpected_count=details.get("unexpected_count"), unexpected_sample=_sample(details),
        error=error)


def _raised(result) -> bool:
    return bool((result.exception_info or {}).get("raised_exception"))


def _sample(details: dict) -> list:
    mismatched = (details.get("details") or {}).get("mismatched")
    if isinstance(mismatched, dict):  # table column set: name the columns that differ
        values = [f"missing:{c}" for c in mismatched.get("missing") or []]
        values += [f"unexpected:{c}" for c in mismatched.get("unexpected") or []]
        return values[:SAMPLE_SIZE]
    distinct: list = []
    for value in details.get("partial_unexpected_list") or []:
        value = jsonable_value(value)
        if value not in distinct:
            distinct.append(value)
        if len(distinct) == SAMPLE_SIZE:
            break
    return distinct
