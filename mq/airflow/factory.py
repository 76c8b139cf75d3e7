"""Build the DAGs of one config: the daily pipeline, the daily ledger check, the monthly SOX report.

The stages are partition-wide library calls (`Pipeline.pull` pulls every table of the config), so the
unit of a DAG is the config and its schedule: one config, one daily DAG. Per-table work that Airflow
can usefully show and retry on its own is the wait for each table's partition: those sensors form one
task group, one sensor per table.
"""
from __future__ import annotations

from airflow.sdk import (DAG, Asset, CronDataIntervalTimetable, Param, TaskGroup, TriggerRule,
                         get_current_context, task)
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from mq.airflow import docs, tasks
from mq.airflow.assets import certified_asset
from mq.airflow.partition import partition_of
from mq.airflow.pool import PoolError, check_pool
from mq.airflow.sensors import PartitionSensor, watchable
from mq.airflow.settings import DagSettings
from mq.config import Config, load_config
from status.certify import subjects

DAILY = "0 0 * * *"


def default_args(config: Config, settings: DagSettings) -> dict:
    return {
        "owner": docs.owners(config),
        "retries": settings.retries,
        "retry_delay": settings.retry_delay,
        "retry_exponential_backoff": settings.retry_backoff,
        "max_retry_delay": settings.max_retry_delay,
        "execution_timeout": settings.stage_timeout,
    }


def trigger_of(context) -> str:
    run_type = getattr(context.get("dag_run"), "run_type", None)
    return f"airflow:{getattr(run_type, 'value', run_type) or 'run'}"


def _under_dag_test(context) -> bool:
    """`dag.test()` names its runs' triggering user "dag_test"; it runs tasks without pools."""
    return getattr(context.get("dag_run"), "triggering_user_name", None) == "dag_test"


def _run_url(context) -> str | None:
    ti = context.get("ti")
    url = getattr(ti, "log_url", None)
    return url.split("/tasks/", 1)[0] if url else None


def _stage_task(config_path: str, stage: str, **task_kwargs):
    def run(store_run_id: str) -> dict:
        context = get_current_context()
        return tasks.run_stage(config_path, stage, partition_of(context), store_run_id,
                               run_url=_run_url(context) if stage == "alert" else None)

    run.__name__ = stage
    run.__doc__ = f"`Pipeline.{stage}` for the run's partition."
    return task(task_id=stage, **task_kwargs)(run)


def _announce_task(subject: str, prefix: str):
    asset = certified_asset(subject, prefix)

    def announce() -> dict:
        context = get_current_context()
        outcome = context["ti"].xcom_pull(task_ids="certify") or {}
        status = (outcome.get("result") or {}).get(subject, "unknown")
        partition = partition_of(context).isoformat()
        if status != "certified":
            raise AirflowSkipException(f"{subject} for {partition} is {status}: no certification event")
        context["outlet_events"][asset].extra = {"partition": partition, "subject": subject}
        return {"partition": partition, "subject": subject}

    announce.__name__ = subject
    announce.__doc__ = f"Emit the certification event of {subject} (skipped unless its partition is certified)."
    return task(task_id=subject, outlets=[asset])(announce)


def build_daily_dag(settings: DagSettings, config: Config | None = None) -> DAG:
    config = config or load_config(settings.config_path)
    path = str(settings.config_path)
    dag_id = f"{settings.dag_prefix}_daily"
    with DAG(
        dag_id=dag_id,
        description=f"metrics-quality daily pipeline of {settings.config_path.name}",
        # A data-interval timetable: the run for [D, D+1) starts at D+1 00:00 UTC and owns partition D.
        # (A plain "@daily" is a trigger timetable in Airflow 3: its interval would be empty.)
        schedule=CronDataIntervalTimetable(DAILY, timezone="UTC"),
        start_date=settings.start_date,
        catchup=settings.catchup,
        max_active_runs=settings.max_active_runs,
        default_args=default_args(config, settings),
        tags=docs.tags(config, "daily"),
        doc_md=docs.daily_doc(config, settings),
        params={"partition": Param(None, type=["null", "string"], pattern=r"^\d{4}-\d{2}-\d{2}$",
                                   description="Re-run this partition (YYYY-MM-DD) instead of the data "
                                               "interval's date.")},
    ) as dag:

        @task(task_id="pool")
        def pool() -> str:
            """Fail fast, in one line, when the Spark tasks' pool is missing (see mq.airflow.pool)."""
            context = get_current_context()
            try:
                return check_pool(settings.pool, settings.pool_check, under_test=_under_dag_test(context))
            except PoolError as err:
                raise AirflowFailException(str(err)) from None

        @task(task_id="start")
        def start() -> str:
            """Record the config version and open the run in the metric store."""
            context = get_current_context()
            return tasks.start_run(path, partition_of(context), trigger_of(context))

        store_run_id = start()
        pool() >> store_run_id
        with TaskGroup("arrival", tooltip="wait for each table's partition until its deadline") as arrival:
            for table in config.tables:
                if watchable(config, table):
                    PartitionSensor(task_id=table, config_path=path, table=table,
                                    arrival_deadline=settings.arrival_deadline,
                                    poke_interval=settings.poke_interval, deferrable=True)

        pulled = _stage_task(path, "pull", pool=settings.pool,
                             trigger_rule=TriggerRule.NONE_FAILED)(store_run_id)
        validated = _stage_task(path, "validate", pool=settings.pool)(store_run_id)
        detected = _stage_task(path, "detect")(store_run_id)
        alerted = _stage_task(path, "alert")(store_run_id)
        certified = _stage_task(path, "certify")(store_run_id)
        with TaskGroup("certified", tooltip="an Asset event per metric whose partition is certified") as announce:
            for subject in subjects(config):
                _announce_task(subject, settings.dag_prefix)()

        @task(task_id="deliver")
        def deliver() -> dict:
            """Drain the notification outbox to the receivers."""
            return tasks.deliver(path)

        @task(task_id="record", trigger_rule=TriggerRule.ALL_DONE,
              outlets=[Asset(name=f"{settings.dag_prefix}_runs", uri=f"mq://{settings.dag_prefix}/runs")])
        def record() -> dict:
            """Close the run and write its audit record; fail the DAG run if a stage failed."""
            context = get_current_context()
            ti = context["ti"]
            store_run_id = ti.xcom_pull(task_ids="start")
            if not store_run_id:
                raise AirflowFailException("task 'start' did not succeed: there is no run to record")
            outcomes = {s: ti.xcom_pull(task_ids=s) for s in (*tasks.STAGES, "deliver")}
            summary = tasks.record_run(path, partition_of(context), store_run_id, trigger_of(context),
                                       outcomes)
            if summary["status"] != "success":
                raise AirflowFailException(f"run of partition {summary['partition']} failed: {summary['error']}")
            return {"partition": summary["partition"], "status": summary["status"],
                    "seconds": summary["seconds"],
                    **({"history": summary["history"]} if summary.get("history") else {})}

        delivered = deliver()
        arrival >> pulled
        pulled >> validated >> detected >> alerted >> certified >> delivered >> record()
        certified >> announce
    return dag


def build_dags(settings: DagSettings | None = None) -> list[DAG]:
    """Every DAG of the config: daily pipeline, daily ledger verification, monthly SOX report."""
    from mq.airflow.audit_dags import build_ledger_verify_dag, build_sox_report_dag

    settings = settings or DagSettings.from_environment()
    config = load_config(settings.config_path)
    return [build_daily_dag(settings, config), build_ledger_verify_dag(settings, config),
            build_sox_report_dag(settings, config)]
