"""The run, declared once: the ordered stages of one partition's run and the summary built from them.

`mq run`, `mq backfill` (`mq.pipeline.Pipeline.run`), the Airflow daily DAG (`mq.airflow.factory`, one
task per stage, in this order) and the run's audit record all read `STAGES`. Adding a stage is one
entry here and one module under `mq/stages/`.

Each stage is idempotent for its partition: re-running one (or the whole run) never duplicates points,
alerts or audit records.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# What stages read and produce, by name (the metric store's, alert book's, outbox's and ledger's data).
WAREHOUSE = "warehouse partitions"   # the configured tables, read through Spark


@dataclass(frozen=True)
class RunContext:
    """What one run hands to each of its stages."""
    partition: dt.date
    run_id: str | None = None        # the metric store's run
    run_url: str | None = None       # the scheduler's page of this run (Airflow), linked from notifications


@dataclass(frozen=True)
class Stage:
    name: str                        # task id, timing key, `Pipeline` method
    summary_key: str                 # its entry in the run summary
    doc: str                         # what it does, in a few words (Airflow task and DAG docs)
    reads: tuple[str, ...]
    produces: tuple[str, ...]
    execute: Callable[[Any, RunContext], Any]          # (pipeline, context) -> the stage's result
    report: Callable[[Any], Any] = lambda result: result   # result -> its run-summary entry (JSON-safe)
    # The result when the stage's work was done ahead of the run (a backfill pulls a whole range in one
    # scan per table): read back, not redone, and not timed.
    reuse: Callable[[Any, RunContext], Any] | None = None

    @property
    def reads_warehouse(self) -> bool:
        """Whether it reads the tables through Spark (in Airflow: runs in the warehouse pool)."""
        return WAREHOUSE in self.reads


def _pull(pipe, ctx: RunContext):
    from mq.stages.pull import run_pulls

    return run_pulls(pipe, ctx.partition, ctx.run_id)


def _pulled(pipe, ctx: RunContext):
    from mq.stages.pull import run_recorded_pulls

    return run_recorded_pulls(pipe, ctx.partition)


def _validate(pipe, ctx: RunContext):
    from mq.stages.validate import run_validations

    return run_validations(pipe, ctx.partition, ctx.run_id)


def _checks(results) -> list[dict]:
    return [{"suite": c.suite, "success": c.success} for c in results]


def _detect(pipe, ctx: RunContext):
    from mq.stages.detect import run_detections

    return run_detections(pipe, ctx.partition, ctx.run_id)


def _alert(pipe, ctx: RunContext):
    from mq.stages.alert import run_alerting

    return run_alerting(pipe, ctx.partition, ctx.run_id, run_url=ctx.run_url)


def _certify(pipe, ctx: RunContext):
    from mq.stages.certify import run_certification

    return run_certification(pipe, ctx.partition)


def _deliver(pipe, ctx: RunContext):
    from mq.stages.deliver import run_delivery

    return run_delivery(pipe)


def _delivery(done) -> dict:
    return done.summary


STAGES: tuple[Stage, ...] = (
    Stage("pull", "pulls", "pull every table's partition, store the metric points",
          reads=(WAREHOUSE,), produces=("pulls", "metric points"), execute=_pull, reuse=_pulled),
    Stage("validate", "checks", "expectation suites and row-ratio checks",
          reads=(WAREHOUSE, "pulls"), produces=("check results",), execute=_validate, report=_checks),
    Stage("detect", "detections", "score each metric and pair per slice",
          reads=("metric points", "pulls", "check results", "detections"), produces=("detections",),
          execute=_detect),
    Stage("alert", "alerts", "route, dedup, silence, inhibit, queue notifications",
          reads=("pulls", "check results", "detections", "alert decisions"),
          produces=("alert decisions", "outbox"), execute=_alert),
    Stage("certify", "certification", "open incidents, certify each metric's partition",
          reads=("pulls", "check results", "detections", "alert decisions"),
          produces=("incidents", "certifications"), execute=_certify),
    Stage("deliver", "delivery", "drain the outbox to the receivers",
          reads=("outbox",), produces=("deliveries",), execute=_deliver, report=_delivery),
)


def stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise ValueError(f"unknown stage {name!r}; stages: {[s.name for s in STAGES]}")


def producer_of(what: str) -> Stage:
    """The stage that produces `what` (one of the names in `Stage.produces`)."""
    for s in STAGES:
        if what in s.produces:
            return s
    raise ValueError(f"no stage produces {what!r}")


def run_summary(partition: dt.date, config_hash: str, reports: Mapping[str, Any],
                error: str | None = None) -> dict:
    """A run's summary from its stages' reports (by stage name, in order, up to the first missing one).

    With `error` the run failed; with every stage reported it succeeded (or is `partial`, see
    `input_outcome`); otherwise it stopped on an unexpected error and has no status yet."""
    summary: dict = {"partition": partition.isoformat(), "config_hash": config_hash}
    complete = True
    for s in STAGES:
        if s.name not in reports:
            complete = False
            break
        summary[s.summary_key] = reports[s.name]
    if error is not None:
        summary.update(status="failed", error=error)
    elif complete:
        summary.update(input_outcome(summary[stage("pull").summary_key]))
    return summary


def input_outcome(pulls: list[dict]) -> dict:
    """A finished run's status from its pulls, and which inputs failed.

    Missing input is a freshness alert and the run a success, as always; input that could not be read
    makes it "partial": it went on without it. Either way `failed_inputs` says which."""
    failed = [f"{p['table']} {p['partition']}: {p['status']}" + (f" ({p['error']})" if p.get("error") else "")
              for p in pulls if p["status"] != "ok"]
    unreadable = any(p["status"] == "error" for p in pulls)
    return {"status": "partial" if unreadable else "success", **({"failed_inputs": failed} if failed else {})}


@dataclass(frozen=True)
class LedgerEntry:
    """An audit record a stage returns for the orchestrator to append (`ledger.Ledger.append`)."""
    kind: str
    key: str
    payload: dict
    partition: dt.date | None = None

    def append_to(self, ledger, conn=None):
        """Append this entry to `ledger` (within `conn`'s transaction when given); returns the record."""
        return ledger.append(self.kind, self.key, self.payload, partition=self.partition, conn=conn)
