"""What each task of the daily DAG does: open the pipeline, call one library stage, return plain JSON.

Every function takes the partition explicitly (the factory derives it from the data interval), so each
task reads exactly its run's partition and is idempotent like the stage it calls: clearing and
re-running a task, or the whole run, adds no duplicate points, pulls, alerts or ledger records.
`record_run` writes the same run record as `Pipeline.run`, built from the stage tasks' results.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import time
from collections.abc import Iterator

from mq.airflow.connections import resolve_spark_target, resolve_state_url
from mq.config import Config, load_config
from mq.pipeline import Pipeline

log = logging.getLogger("mq.airflow")

STAGES = ("pull", "validate", "detect", "alert", "certify")


class TaskPipeline(Pipeline):
    """A Pipeline whose Spark session comes from the `spark_default` Connection, created on first use."""

    def __init__(self, config: Config, *, state_url: str) -> None:
        super().__init__(config, state_url=state_url)

    @property
    def spark(self):
        if self._spark is None:
            from mq.spark import get_spark

            target = resolve_spark_target(self.config)
            log.info("Spark session on %s", target.describe())
            self._spark = get_spark(master=target.master, remote=target.remote, conf=target.conf)
        return super().spark


@contextlib.contextmanager
def open_pipeline(config_path: str) -> Iterator[TaskPipeline]:
    config = load_config(config_path)
    pipe = TaskPipeline(config, state_url=resolve_state_url(config))
    try:
        yield pipe
    finally:
        pipe.engine.dispose()


def plain(value):
    """JSON-safe copy (what XCom stores); `default=str` as in the run digest, so hashes agree."""
    return json.loads(json.dumps(value, default=str))


def start_run(config_path: str, partition: dt.date, trigger: str) -> str:
    """Record the config version, open a run in the metric store; returns the store's run id."""
    with open_pipeline(config_path) as pipe:
        pipe.record_config()
        return pipe.store.start_run(partition, trigger, pipe.config.content_hash)


def run_stage(config_path: str, stage: str, partition: dt.date, run_id: str | None,
              run_url: str | None = None) -> dict:
    """One of pull / validate / detect / alert / certify for the partition: {"result": ..., "seconds": ...}."""
    if stage not in STAGES:
        raise ValueError(f"run_stage: stage must be one of {STAGES}, got {stage!r}")
    with open_pipeline(config_path) as pipe, _run_url(run_url):
        t0 = time.perf_counter()
        result = getattr(pipe, stage)(partition, run_id)
        seconds = round(time.perf_counter() - t0, 3)
    if stage == "validate":
        result = [{"suite": c.suite, "success": c.success} for c in result]
    return {"result": plain(result), "seconds": seconds}


def deliver(config_path: str) -> dict:
    """Drain the outbox to the receivers (Slack token from `slack_api_default` inside Airflow)."""
    with open_pipeline(config_path) as pipe:
        t0 = time.perf_counter()
        summary = pipe.deliver()
        seconds = round(time.perf_counter() - t0, 3)
    return {"result": {k: getattr(summary, k) for k in ("delivered", "retried", "failed_permanent", "pending")},
            "seconds": seconds}


def run_summary(pipe, partition: dt.date, outcomes: dict[str, dict | None]) -> dict:
    """The summary `Pipeline.run` would have built from these stage outcomes (None = the task failed)."""
    summary: dict = {"partition": partition.isoformat(), "config_hash": pipe.config.content_hash}
    keys = {"pull": "pulls", "validate": "checks", "detect": "detections", "alert": "alerts",
            "certify": "certification", "deliver": "delivery"}
    for stage in (*STAGES, "deliver"):
        outcome = outcomes.get(stage)
        if outcome is None:
            summary.update(status="failed", error=f"task {stage!r} did not succeed")
            break
        summary[keys[stage]] = outcome["result"]
    else:
        from mq.pipeline import input_outcome

        summary.update(input_outcome(summary["pulls"]))
    return summary


def record_run(config_path: str, partition: dt.date, run_id: str, trigger: str,
               outcomes: dict[str, dict | None]) -> dict:
    """Close the store's run and append the ledger's run record, exactly as `Pipeline.run` does."""
    with open_pipeline(config_path) as pipe:
        summary = run_summary(pipe, partition, outcomes)
        pipe.record_run(partition, run_id, summary, trigger,
                        {st: o["seconds"] for st, o in outcomes.items() if o is not None})
    return summary


@contextlib.contextmanager
def _run_url(url: str | None):
    """Alert notifications link to the Airflow run (`Pipeline.links` reads MQ_AIRFLOW_RUN_URL)."""
    if not url:
        yield
        return
    before = os.environ.get("MQ_AIRFLOW_RUN_URL")
    os.environ["MQ_AIRFLOW_RUN_URL"] = url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MQ_AIRFLOW_RUN_URL", None)
        else:
            os.environ["MQ_AIRFLOW_RUN_URL"] = before
