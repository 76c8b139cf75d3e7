"""Stage 1: pull every configured table's partition in Spark and store the metric points."""
from __future__ import annotations

import datetime as dt
import logging

from pulls import pull_partition

log = logging.getLogger("mq.pull")


def run_pulls(pipe, partition: dt.date, run_id: str | None = None) -> list[dict]:
    outcomes = []
    for table in pipe.config.tables:
        if not any(m.table == table for m in pipe.config.metrics.values()):
            continue
        result = pull_partition(pipe.spark, pipe.config, table, partition)
        pull_id, version, changed = pipe.store.record_pull({**result.evidence, "run_id": run_id},
                                                          result.points)
        outcome = {"table": table, "partition": partition.isoformat(), "status": result.status,
                   "row_count": result.row_count, "version": version, "changed": changed}
        if changed:
            ev = result.evidence
            pipe.ledger.append("pull", f"pull:{table}:{partition.isoformat()}:v{version}", {
                **outcome, "sql_hash": ev["sql_hash"], "content_hash": ev["content_hash"],
                "input_files": ev["input_files"], "spark_app_id": ev["spark_app_id"],
                "started_at": ev["started_at"].isoformat(), "finished_at": ev["finished_at"].isoformat(),
                "controls": pipe.controls_for_table(table)}, partition=partition)
        log.info("pulled %s", table, extra={"mq": outcome})
        outcomes.append(outcome)
    return outcomes
