"""Stage 1: pull every configured table's partition in Spark and store the metric points."""
from __future__ import annotations

import datetime as dt
import logging

from pulls import pull_partition
from pulls.pull import pull_partitions

log = logging.getLogger("mq.pull")


def pulled_tables(pipe) -> list[str]:
    return [t for t in pipe.config.tables if any(m.table == t for m in pipe.config.metrics.values())]


def run_pulls(pipe, partition: dt.date, run_id: str | None = None) -> list[dict]:
    return [_record(pipe, pull_partition(pipe.spark, pipe.config, t, partition), run_id)
            for t in pulled_tables(pipe)]


def run_range_pulls(pipe, start: dt.date, end: dt.date, run_id: str | None = None) -> None:
    """A backfill's pulls: one Spark scan per table for the whole range, recorded per partition."""
    for table in pulled_tables(pipe):
        for result in pull_partitions(pipe.spark, pipe.config, table, start, end):
            _record(pipe, result, run_id)


def recorded_pulls(pipe, partition: dt.date) -> list[dict]:
    """The pull outcomes of a partition already pulled (by a range pull), as run_pulls reports them."""
    out = []
    for table in pulled_tables(pipe):
        p = pipe.store.latest_pull(table, partition)
        out.append({"table": table, "partition": partition.isoformat(), "status": p["status"],
                    "row_count": p["row_count"], "version": p["version"], "changed": False,
                    **({"error": p["error"]} if p["error"] else {})})
    return out


def _record(pipe, result, run_id: str | None) -> dict:
    table, partition = result.table, result.partition
    before = pipe.store.latest_pull(table, partition)
    pull_id, version, changed = pipe.store.record_pull({**result.evidence, "run_id": run_id}, result.points)
    outcome = {"table": table, "partition": partition.isoformat(), "status": result.status,
               "row_count": result.row_count, "version": version, "changed": changed}
    if changed and before is not None and result.row_count > (before["row_count"] or 0):
        # Rows arrived after an earlier pull: the partition was late (or is still growing).
        outcome["late"] = {"previous_version": before["version"], "previous_rows": before["row_count"]}
        log.warning("late data in %s %s", table, partition, extra={"mq": outcome["late"]})
    if changed:
        ev = result.evidence
        pipe.ledger.append("pull", f"pull:{table}:{partition.isoformat()}:v{version}", {
            **outcome, "sql_hash": ev["sql_hash"], "content_hash": ev["content_hash"],
            "input_files": ev["input_files"], "spark_app_id": ev["spark_app_id"],
            "started_at": ev["started_at"].isoformat(), "finished_at": ev["finished_at"].isoformat(),
            "controls": pipe.controls_for_table(table)}, partition=partition)
    log.info("pulled %s", table, extra={"mq": outcome})
    return outcome
