"""The audit DAGs of one config: a daily ledger verification and a monthly SOX evidence report."""
from __future__ import annotations

import datetime as dt

from airflow.sdk import (DAG, CronDataIntervalTimetable, CronTriggerTimetable, TriggerRule, get_current_context,
                         task)
from airflow.sdk.exceptions import AirflowFailException

from mq.airflow import audit, docs
from mq.airflow.audit import period_of
from mq.airflow.factory import default_args
from mq.airflow.sensors import PeriodCompleteSensor
from mq.airflow.settings import DagSettings
from mq.config import Config

# The report waits at most this long after the month ends for the last daily runs.
REPORT_GRACE = dt.timedelta(days=2)


def build_ledger_verify_dag(settings: DagSettings, config: Config) -> DAG:
    path = str(settings.config_path)
    with DAG(
        dag_id=f"{settings.dag_prefix}_ledger_verify",
        description="verify the audit ledger's hash chain",
        schedule=CronTriggerTimetable("0 6 * * *", timezone="UTC"),
        start_date=settings.start_date,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(config, settings),
        tags=docs.tags(config, "audit", "ledger"),
        doc_md=docs.verify_doc(config),
    ) as dag:

        @task(task_id="verify")
        def verify() -> dict:
            """Verify the chain; on a break, notify and fail without retries."""
            ti = get_current_context()["ti"]
            # The head seen by the last successful check: truncation or a rewrite since then is caught.
            previous = ti.xcom_pull(task_ids="verify", include_prior_dates=True) or {}
            result = audit.verify_ledger(path, expected_head=previous.get("head_hash"),
                                         expected_count=previous.get("count"))
            if not result["ok"]:
                raise AirflowFailException(
                    f"audit ledger BROKEN at record {result['first_bad_seq']}: {result['problem']}")
            return result

        verify()
    return dag


def monthly_report_dag(settings: DagSettings, config: Config, *, name: str, description: str,
                       tags: tuple[str, ...], doc_md: str) -> tuple[DAG, PeriodCompleteSensor]:
    """A monthly report DAG, its data interval [month start, next month start), and its first task: a
    sensor that waits (rescheduling) until the month's daily runs are in, at most `REPORT_GRACE`."""
    dag = DAG(
        dag_id=f"{settings.dag_prefix}_{name}",
        description=description,
        # Interval [month start, next month start): the run starts when the month is closed.
        schedule=CronDataIntervalTimetable("0 0 1 * *", timezone="UTC"),
        start_date=settings.start_date,
        catchup=settings.catchup,
        max_active_runs=1,
        default_args=default_args(config, settings),
        tags=docs.tags(config, *tags),
        doc_md=doc_md,
    )
    with dag:
        waited = PeriodCompleteSensor(task_id="wait_for_period", config_path=str(settings.config_path),
                                      grace=REPORT_GRACE, mode="reschedule", poke_interval=600,
                                      timeout=(REPORT_GRACE + dt.timedelta(hours=1)).total_seconds())
    return dag, waited


def build_sox_report_dag(settings: DagSettings, config: Config) -> DAG:
    path = str(settings.config_path)
    dag, waited = monthly_report_dag(settings, config, name="sox_report",
                                     description="monthly SOX evidence report of the closed period",
                                     tags=("audit", "report"), doc_md=docs.report_doc(config))
    with dag:

        @task(task_id="write_report", trigger_rule=TriggerRule.NONE_FAILED)
        def write_report() -> dict:
            """The evidence report; a month with missing runs shows them (runs per partition)."""
            first, last, _ = period_of(get_current_context())
            return audit.write_report(path, first, last, settings.report_dir)

        waited >> write_report()
    return dag
