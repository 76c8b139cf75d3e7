"""The monthly sizing report: each pair's steady-state under-count over the closed month (`sizing/`).

One task per pair, keyed by the run's data interval: a re-run (or a retry) writes the same folder
`<report_dir>/sizing/<pair>/<first>_<last>/` again from the same stored counts, so it is idempotent.
The state store is reached as every task reaches it (`mq.airflow.tasks.open_pipeline`: the Airflow
Connection when one is configured, else the config's URL).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from airflow.sdk import DAG, TriggerRule, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from mq.airflow import docs
from mq.airflow.audit import period_of
from mq.airflow.audit_dags import monthly_report_dag
from mq.airflow.settings import DagSettings
from mq.config import Config


def write_sizing(config_path: str, pair: str, start: dt.date, end: dt.date, out_root: Path | None = None) -> dict:
    """`sizing.report`'s report of `pair` for [start, end]; returns its path and headline."""
    from mq.airflow.tasks import open_pipeline
    from sizing import SizingSettings
    from sizing.report import compute_and_write

    with open_pipeline(config_path) as pipe:
        root = Path(out_root) if out_root else pipe.config.workdir_path / "reports"
        out = root / "sizing" / pair / f"{start.isoformat()}_{end.isoformat()}"
        settings = SizingSettings.from_config(pipe.config, pair)
        path, headline = compute_and_write(settings, pipe.store, start, end, out, source=pipe.config.source_path)
    return {"report": str(path), "pair": pair, "start": start.isoformat(), "end": end.isoformat(),
            "under_count": headline.get("under_count"), "pct_of_metric": headline.get("pct_of_metric")}


def build_sizing_report_dag(settings: DagSettings, config: Config) -> DAG:
    dag, waited = monthly_report_dag(settings, config, name="sizing_report",
                                     description="monthly steady-state under-count sizing of every pair",
                                     tags=("report", "sizing"), doc_md=docs.sizing_doc(config))
    with dag:
        for pair in sorted(config.pairs):
            waited >> _size_task(str(settings.config_path), pair, settings.report_dir)
    return dag


def _size_task(config_path: str, pair: str, report_dir: Path | None):
    @task(task_id=f"size.{pair}", trigger_rule=TriggerRule.NONE_FAILED)
    def size() -> dict:
        """The pair's sizing report of the closed month; a month without stored counts fails (no retry
        can create them: backfill the month, then clear the task)."""
        from core.errors import MqError

        first, last, _ = period_of(get_current_context())
        try:
            return write_sizing(config_path, pair, first, last, report_dir)
        except MqError as exc:
            raise AirflowFailException(str(exc)) from exc

    return size()
