"""The pipeline: what the stages of a run share (config, Spark, stores), and the orchestrator that runs
the stages declared in `mq.run.STAGES` for a partition and records the run.

`mq run`, `mq backfill` and the Airflow tasks all go through it; each stage is idempotent for a
partition, so re-running one (or a whole backfill) never duplicates points, alerts or audit records.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
from pathlib import Path

from alerting.lifecycle import AlertBook
from alerting.outbox import Outbox
from ledger import Ledger
from ledger.anchor import write_anchor
from ledger.signing import load_signer
from metricstore import MetricStore, make_engine
from mq.config import Config
from mq.errors import MqError
from mq.history_note import history_note
from mq.run import STAGES, RunContext, input_outcome, run_summary
from mq.stages.alert import run_alerting
from mq.stages.certify import run_certification
from mq.stages.deliver import run_delivery
from mq.stages.detect import run_detections
from mq.stages.pull import run_pulls, run_range_pulls
from mq.stages.validate import run_validations

__all__ = ["Pipeline", "STALE_RUN_AFTER", "input_outcome"]

log = logging.getLogger("mq.pipeline")

# A run still `running` this long after it started has no process behind it any more (a day's run
# takes minutes); it is closed as `abandoned` so exceptions and dashboards stop counting it as live.
STALE_RUN_AFTER = dt.timedelta(hours=float(os.environ.get("MQ_STALE_RUN_HOURS", "6")))


class Pipeline:
    def __init__(self, config: Config, *, spark=None, state_url: str | None = None) -> None:
        self.config = config
        self._spark = spark
        self.engine = make_engine(state_url or config.state_url)
        self.store = MetricStore(self.engine)
        self.alerts = AlertBook(self.engine, flap_max_incidents=config.alerting.flap_max_incidents,
                                flap_window_days=config.alerting.flap_window_days)
        self.outbox = Outbox(self.engine)
        self.ledger = Ledger(self.engine, signer=load_signer(config.workdir_path / "ledger.key"))
        self.anchor_dir = Path(os.environ.get("MQ_LEDGER_ANCHOR_DIR") or config.workdir_path / "ledger-anchors")
        for part in (self.store, self.alerts, self.outbox, self.ledger):
            part.install()
        from incidents import IncidentBook   # its table comes with the metric store's migrations

        self.incidents = IncidentBook(self.engine, self.ledger)

    # ---- shared resources -----------------------------------------------------------
    @property
    def spark(self):
        if self._spark is None:
            from mq.spark import get_spark

            s = self.config.spark
            self._spark = get_spark(master=s.master, remote=s.remote, conf=s.conf)
        if not getattr(self, "_registered", False):
            from pulls import register_tables

            register_tables(self._spark, self.config)
            self._registered = True
        return self._spark

    def refresh_tables(self) -> None:
        """Re-list the tables' files (new partitions or late files) before the next stage reads them."""
        self._registered = False

    def receivers(self) -> dict:
        from mq.receivers import build_receivers

        return build_receivers(self.config)

    def links(self, partition: dt.date, run_url: str | None = None) -> dict[str, str]:
        """The links of a notification: the scheduler's run (`run_url`, from Airflow), the report."""
        links = {}
        if run_url:
            links["Airflow run"] = run_url
        report = self.config.workdir_path / "report" / "index.html"
        links["Report"] = report.as_uri()
        return links

    def chart(self, alert):
        from mq.charts import alert_chart

        return alert_chart(self, alert)

    # ---- controls (SOX) -------------------------------------------------------------
    def controls_for_table(self, table: str) -> list[str]:
        from mq.stages import table_controls
        return list(table_controls(self.config, table))

    def controls_for_subject(self, subject: str) -> list[str]:
        spec = self.config.metrics.get(subject) or self.config.pairs.get(subject)
        return [f"detect:{subject}"] if spec is not None and spec.sox else []

    # ---- stages (one at a time; `run` runs them all) -----------------------------------
    def pull(self, partition: dt.date, run_id: str | None = None):
        return run_pulls(self, partition, run_id)

    def validate(self, partition: dt.date, run_id: str | None = None):
        return run_validations(self, partition, run_id)

    def detect(self, partition: dt.date, run_id: str | None = None):
        return run_detections(self, partition, run_id)

    def alert(self, partition: dt.date, run_id: str | None = None, *, run_url: str | None = None):
        return run_alerting(self, partition, run_id, run_url=run_url)

    def certify(self, partition: dt.date, run_id: str | None = None) -> dict[str, str]:
        return run_certification(self, partition)

    def deliver(self):
        return run_delivery(self)

    def record_config(self) -> None:
        """Record the config and every control definition that changed (idempotent)."""
        from controls import ControlSettings, sync_controls
        from controls.changes import git_commit_of

        commit = git_commit_of(self.config.base_dir)
        self.ledger.append("config_change", f"config:{self.config.content_hash}", {
            "config_hash": self.config.content_hash, "source": self.config.source_path,
            "git_commit": commit})
        sync_controls(ControlSettings.from_config(self.config), self.ledger, git_commit=commit)

    def run(self, partition: dt.date, trigger: str = "cli", *, pulled: bool = False,
            run_url: str | None = None) -> dict:
        """Every stage of `mq.run.STAGES` for one partition; returns a summary and records it in the ledger.

        `pulled=True`: the partition was already pulled by a range pull (a backfill), reuse it.
        `run_url`: the scheduler's page of this run, linked from its notifications."""
        self.record_config()
        self.store.close_stale_runs(STALE_RUN_AFTER)
        run_id = self.store.start_run(partition, trigger, self.config.content_hash)
        ctx = RunContext(partition, run_id, run_url)
        reports: dict = {}
        timings: dict[str, float] = {}
        error = None
        try:
            for s in STAGES:
                if pulled and s.reuse is not None:
                    reports[s.name] = s.report(s.reuse(self, ctx))
                    continue
                t0 = time.perf_counter()
                try:
                    reports[s.name] = s.report(s.execute(self, ctx))
                finally:
                    timings[s.name] = round(time.perf_counter() - t0, 3)
        except MqError as exc:
            error = str(exc)
            raise
        finally:
            summary = run_summary(partition, self.config.content_hash, reports, error)
            self.record_run(partition, run_id, summary, trigger, timings)
            log.info("run finished", extra={"mq": {"partition": partition.isoformat(),
                                                   "status": summary.get("status"), "seconds": timings}})
        return summary

    def record_run(self, partition: dt.date, run_id: str, summary: dict, trigger: str,
                   seconds: dict[str, float]) -> None:
        """Append the run's ledger record and close the store's run row.

        The record holds what the run found, without what differs between a run and its re-run
        (decisions, deliveries, "changed" flags): an identical re-run, from the CLI or Airflow, then
        adds no audit record."""
        note = history_note(summary.get("detections"), partition, self.config.alerting.history_days)
        if note:
            summary["history"] = note
            log.info(note)
        stable = {**{k: v for k, v in summary.items() if k not in ("delivery", "alerts", "pulls", "seconds")},
                  "pulls": [{k: v for k, v in p.items() if k != "changed"} for p in summary.get("pulls", [])],
                  "alert_candidates": summary.get("alerts", {}).get("candidates")}
        digest = hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()
        self.ledger.append("run", f"run:{partition.isoformat()}:{digest[:24]}",
                           {**stable, "trigger": trigger}, partition=partition)
        summary["seconds"] = seconds
        self.store.finish_run(run_id, summary.get("status", "failed"), summary)
        self.anchor_ledger()

    def anchor_ledger(self):
        """Copy the chain head outside the store (a write-once file); see ledger/anchor.py."""
        head = self.ledger.head()
        if head is not None:
            return write_anchor(self.anchor_dir, head[0], head[1], head[2].isoformat(), self.ledger.signer)
        return None

    def backfill(self, start: dt.date, end: dt.date, trigger: str = "backfill", progress=None) -> list[dict]:
        if end < start:
            raise MqError(f"backfill: --end {end} is before --start {start}")
        run_range_pulls(self, start, end)   # one scan per table for the whole range
        out, day = [], start
        while day <= end:
            try:
                out.append(self.run(day, trigger, pulled=True))
            except MqError as exc:   # recorded by run(); one failed partition never stops the range
                out.append({"partition": day.isoformat(), "status": "failed", "error": str(exc)})
                log.error("backfill: partition %s failed: %s", day, exc)
            if progress:
                progress(day)
            day += dt.timedelta(days=1)
        return out
