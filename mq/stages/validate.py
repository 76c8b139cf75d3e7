"""Stage 2: validate each table's partition with its expectation suite (GX on the Spark DataFrame),
plus the client-vs-warehouse row-count ratio of every pair that declares a band. A failing row-level
expectation also records where its failing rows concentrate (`checks.concentration`)."""
from __future__ import annotations

import datetime as dt
import hashlib
import json

from checks import load_suite, ratio_check, validate_partition
from checks.concentration import SUPPORTED, concentration, failing_counts


def run_validations(pipe, partition: dt.date, run_id: str | None = None) -> list:
    from pyspark.sql import functions as F

    results = []
    for table, spec in pipe.config.tables.items():
        if not spec.suite:
            continue
        pull = pipe.store.latest_pull(table, partition)
        if pull is not None and pull["status"] in ("missing", "error"):
            continue   # a missing or unreadable partition already has its own alert
        suite = load_suite(pipe.config.resolve(spec.suite))
        df = pipe.spark.table(table).where(F.col(spec.partition_column) == F.lit(partition))
        result = validate_partition(df, suite, partition=partition)
        causes = _where_failures_concentrate(df, suite, result, pipe.config.dimensions)
        results.append(_record(pipe, result, table, run_id, causes))
    for name, pair in pipe.config.pairs.items():
        if not pair.row_ratio_band:
            continue
        client = pipe.store.latest_pull(pipe.config.metrics[pair.client].table, partition)
        warehouse = pipe.store.latest_pull(pipe.config.metrics[pair.warehouse].table, partition)
        if not client or not warehouse or {client["status"], warehouse["status"]} & {"missing", "error"}:
            continue
        low, high = pair.row_ratio_band
        result = ratio_check(int(client["row_count"]), int(warehouse["row_count"]), low=low, high=high,
                             partition=partition, name=f"{name}_row_ratio")
        results.append(_record(pipe, result, pipe.config.metrics[pair.warehouse].table, run_id))
    return results


def _where_failures_concentrate(df, suite, result, dimensions) -> dict[int, list[dict]]:
    """{index of a failing row-level expectation: its root causes} (`checks.concentration`)."""
    columns = set(df.columns)
    dims = [d for d in dimensions if d in columns]
    failing = [(i, spec) for i, (spec, outcome) in enumerate(zip(suite.expectations, result.expectations))
               if not outcome.success and outcome.error is None and spec.name in SUPPORTED]
    if not dims or not failing:
        return {}
    leaves = failing_counts(df, [(spec.name, spec.kwargs) for _, spec in failing], dims)
    return {i: concentration(leaves, dims, f"failing_{k}") for k, (i, _) in enumerate(failing)}


def _record(pipe, result, table: str, run_id: str | None, causes: dict[int, list[dict]] | None = None):
    body = result.to_dict() if hasattr(result, "to_dict") else _as_dict(result)
    for i, found in (causes or {}).items():
        body["expectations"][i]["root_causes"] = found
    result_hash = hashlib.sha256(json.dumps(_stable(body), sort_keys=True, default=str).encode()).hexdigest()
    created = pipe.store.record_check(suite=result.suite, table=table, partition=result.partition,
                                      suite_hash=result.suite_hash, result_hash=result_hash,
                                      success=result.success, result=json.loads(json.dumps(body, default=str)),
                                      run_id=run_id)
    if created:
        pipe.ledger.append("check", f"check:{result.suite}:{result.partition}:{result.suite_hash[:16]}:{result_hash[:16]}",
                           {"suite": result.suite, "table": table, "suite_hash": result.suite_hash,
                            "success": result.success, "result_hash": result_hash,
                            "failed": [e["expectation"] for e in body.get("expectations", []) if not e["success"]],
                            "controls": pipe.controls_for_table(table)},
                           partition=result.partition)
    return result


def _as_dict(result) -> dict:
    from dataclasses import asdict
    return asdict(result)


def _stable(body: dict) -> dict:
    """The result without run-specific noise (timings), so an unchanged partition hashes the same."""
    return {k: v for k, v in body.items() if k not in ("run_time", "duration_s", "validated_at")}
