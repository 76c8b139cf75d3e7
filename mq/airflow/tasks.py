"""What each task of the daily DAG does: open the pipeline, run one stage of `mq.run.STAGES`, return
plain JSON.

Every function takes the partition explicitly (the factory derives it from the data interval), so each
task reads exactly its run's partition and is idempotent like the stage it calls: clearing and
re-running a task, or the whole run, adds no duplicate points, pulls, alerts or ledger records.
`record_run` writes the same run record as `Pipeline.run`, built by the same `mq.run.run_summary` from
the stage tasks' results.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Iterator

from mq.airflow.connections import resolve_spark_target, resolve_state_url
from mq.config import Config, load_config
from mq.pipeline import Pipeline
from mq.run import STAGES, RunContext, run_summary, stage

log = logging.getLogger("mq.airflow")


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


def run_stage(config_path: str, name: str, partition: dt.date, run_id: str | None,
              run_url: str | None = None) -> dict:
    """One stage of `mq.run.STAGES` for the partition: {"result": its run-summary entry, "seconds": ...}."""
    s = stage(name)
    with open_pipeline(config_path) as pipe:
        t0 = time.perf_counter()
        result = s.execute(pipe, RunContext(partition, run_id, run_url))
        seconds = round(time.perf_counter() - t0, 3)
    return {"result": plain(s.report(result)), "seconds": seconds}


def stage_reports(outcomes: dict[str, dict | None]) -> tuple[dict, str | None]:
    """The stage tasks' results in order, up to the first that did not succeed (None), and why it stopped."""
    reports = {}
    for s in STAGES:
        outcome = outcomes.get(s.name)
        if outcome is None:
            return reports, f"task {s.name!r} did not succeed"
        reports[s.name] = outcome["result"]
    return reports, None


def record_run(config_path: str, partition: dt.date, run_id: str, trigger: str,
               outcomes: dict[str, dict | None]) -> dict:
    """Close the store's run and append the ledger's run record, exactly as `Pipeline.run` does."""
    with open_pipeline(config_path) as pipe:
        reports, error = stage_reports(outcomes)
        summary = run_summary(partition, pipe.config.content_hash, reports, error)
        pipe.record_run(partition, run_id, summary, trigger,
                        {st: o["seconds"] for st, o in outcomes.items() if o is not None})
    return summary
