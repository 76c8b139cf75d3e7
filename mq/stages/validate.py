"""Stage 2: validate each table's partition with its expectation suite (GX on the Spark DataFrame),
plus the client-vs-warehouse row-count ratio of every pair that declares a band. A failing row-level
expectation also records where its failing rows concentrate (`checks.concentration`).

`validate` is the stage itself: small typed inputs (`ValidateSettings`, the config's part it needs;
the metric store, whose pulls say which partitions can be checked; a Spark session, asked for only
when a suite runs) and its results as data (`Validations`: each check's result, its stored row and its
ledger entry). It writes nothing; `write_validations`, the orchestrator's side, stores each check and
appends its ledger entry only when the store did not hold that exact result already, so a re-run over
the same data adds no record.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks import load_suite, ratio_check, validate_partition
from checks.concentration import SUPPORTED, concentration, failing_counts
from mq.run import LedgerEntry
from mq.stages import table_controls

# A partition pulled with one of these statuses already has its own alert; it is not checked.
UNCHECKED = ("missing", "error")


@dataclass(frozen=True)
class SuiteCheck:
    """A table's expectation suite, run on the table's partition."""
    table: str
    suite: Path                   # the suite file
    partition_column: str
    controls: tuple[str, ...] = ()


@dataclass(frozen=True)
class RatioCheck:
    """A pair's client-over-warehouse row-count ratio, within [low, high]; recorded on the warehouse table."""
    name: str                     # the pair
    client_table: str
    warehouse_table: str
    low: float
    high: float
    controls: tuple[str, ...] = ()   # the warehouse table's

    @property
    def suite(self) -> str:
        return f"{self.name}_row_ratio"


@dataclass(frozen=True)
class ValidateSettings:
    """The part of the config the validate stage reads."""
    suites: tuple[SuiteCheck, ...] = ()
    ratios: tuple[RatioCheck, ...] = ()
    dimensions: tuple[str, ...] = ()     # where failing rows may concentrate

    @classmethod
    def from_config(cls, config) -> "ValidateSettings":
        suites = tuple(SuiteCheck(t, config.resolve(spec.suite), spec.partition_column, table_controls(config, t))
                       for t, spec in config.tables.items() if spec.suite)
        ratios = []
        for name, pair in config.pairs.items():
            if pair.row_ratio_band:
                low, high = pair.row_ratio_band
                warehouse = config.metrics[pair.warehouse].table
                ratios.append(RatioCheck(name, config.metrics[pair.client].table, warehouse, low, high,
                                         table_controls(config, warehouse)))
        return cls(suites=suites, ratios=tuple(ratios), dimensions=tuple(config.dimensions))


@dataclass(frozen=True)
class CheckRecord:
    """One check's outcome: the result, and what the orchestrator stores and appends for it."""
    result: Any                   # checks.CheckResult
    table: str
    body: dict                    # the stored result (JSON-safe), with the failing rows' root causes
    result_hash: str              # of the body without timings: the same data hashes the same
    entry: LedgerEntry

    @property
    def success(self) -> bool:
        return bool(self.result.success)


@dataclass(frozen=True)
class Validations:
    """What the stage found for one partition, in the order it is written."""
    checks: tuple[CheckRecord, ...] = ()

    @property
    def results(self) -> list:
        return [c.result for c in self.checks]


def checkable(pull: dict | None) -> bool:
    """Whether a table's partition can be validated: not when its pull found it missing or unreadable."""
    return pull is None or pull["status"] not in UNCHECKED


def validate(settings: ValidateSettings, store, partition: dt.date, *,
             spark: Callable[[], Any] | None = None) -> Validations:
    """Run every suite and ratio check of `partition`; reads `store` (the pulls), writes nothing.

    `spark`: returns the Spark session (with the tables registered), called only when a suite runs."""
    found = []
    for check in settings.suites:
        if not checkable(store.latest_pull(check.table, partition)):
            continue
        if spark is None:
            raise ValueError(f"validate: the suite of table {check.table!r} reads the table through Spark, "
                             "but no Spark session was given")
        found.append(run_suite(check, spark(), partition, settings.dimensions))
    for check in settings.ratios:
        pulls = store.latest_pull(check.client_table, partition), store.latest_pull(check.warehouse_table, partition)
        found += [c for c in [ratio_from_pulls(check, *pulls, partition)] if c is not None]
    return Validations(tuple(found))


def run_suite(check: SuiteCheck, spark, partition: dt.date, dimensions) -> CheckRecord:
    from pyspark.sql import functions as F

    suite = load_suite(check.suite)
    df = spark.table(check.table).where(F.col(check.partition_column) == F.lit(partition))
    result = validate_partition(df, suite, partition=partition)
    causes = _where_failures_concentrate(df, suite, result, dimensions)
    return check_record(result, check.table, check.controls, causes)


def ratio_from_pulls(check: RatioCheck, client: dict | None, warehouse: dict | None,
                     partition: dt.date) -> CheckRecord | None:
    """The ratio check from the two sides' latest pulls; None while a side is not pulled, missing or
    unreadable (that side has its own alert)."""
    if not client or not warehouse or not (checkable(client) and checkable(warehouse)):
        return None
    result = ratio_check(int(client["row_count"]), int(warehouse["row_count"]), low=check.low, high=check.high,
                         partition=partition, name=check.suite)
    return check_record(result, check.warehouse_table, check.controls)


def check_record(result, table: str, controls: tuple[str, ...] = (),
                 causes: dict[int, list[dict]] | None = None) -> CheckRecord:
    """A check result as the store keeps it and the ledger entry that records it."""
    body = result.to_dict() if hasattr(result, "to_dict") else _as_dict(result)
    for i, found in (causes or {}).items():
        body["expectations"][i]["root_causes"] = found
    body = json.loads(json.dumps(body, default=str))
    result_hash = hashlib.sha256(json.dumps(_stable(body), sort_keys=True, default=str).encode()).hexdigest()
    entry = LedgerEntry(
        "check", f"check:{result.suite}:{result.partition}:{result.suite_hash[:16]}:{result_hash[:16]}",
        {"suite": result.suite, "table": table, "suite_hash": result.suite_hash, "success": result.success,
         "result_hash": result_hash,
         "failed": [e["expectation"] for e in body.get("expectations", []) if not e["success"]],
         "controls": list(controls)}, result.partition)
    return CheckRecord(result, table, body, result_hash, entry)


def write_validations(store, ledger, found: Validations, run_id: str | None = None) -> list:
    """Store each check; append its ledger entry when the store did not hold this result already."""
    for c in found.checks:
        r = c.result
        created = store.record_check(suite=r.suite, table=c.table, partition=r.partition,
                                     suite_hash=r.suite_hash, result_hash=c.result_hash, success=r.success,
                                     result=c.body, run_id=run_id)
        if created:
            c.entry.append_to(ledger)
    return found.results


def run_validations(pipe, partition: dt.date, run_id: str | None = None) -> list:
    """The validate stage on the pipeline's stores, its results written; returns the check results."""
    found = validate(ValidateSettings.from_config(pipe.config), pipe.store, partition, spark=lambda: pipe.spark)
    return write_validations(pipe.store, pipe.ledger, found, run_id)


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


def _as_dict(result) -> dict:
    from dataclasses import asdict
    return asdict(result)


def _stable(body: dict) -> dict:
    """The result without run-specific noise (timings), so an unchanged partition hashes the same."""
    return {k: v for k, v in body.items() if k not in ("run_time", "duration_s", "validated_at")}
