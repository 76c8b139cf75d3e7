"""Build the DAGs of one config: the daily pipeline, the daily ledger check, the monthly SOX report.

The daily DAG has one task per stage of `mq.run.STAGES`, chained in that order, around them the tasks
that are Airflow's own: `pool` and `start` before the stages, the `arrival` sensors before the first
stage that reads the warehouse, the `certified` Asset events after the stage that produces the
certifications, `record` after the last stage.

The stages are partition-wide library calls (the pull stage pulls every table of the config), so the
unit of a DAG is the config and its schedule: one config, one daily DAG. Per-table work that Airflow
can usefully show and retry on its own is the wait for each table's partition: those sensors form one
task group, one sensor per table.
"""
from __future__ import annotations

from airflow.sdk import (DAG, Asset, CronDataIntervalTimetable, Param, TaskGroup, TriggerRule, chain,
                         get_current_context, task)
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from mq.airflow import docs, tasks
from mq.airflow.assets import certified_asset
from mq.airflow.partition import partition_of
from mq.airflow.pool import PoolError, check_pool
from mq.airflow.sensors import PartitionSensor, watchable
from mq.airflow.settings import DagSettings
from mq.config import Config, load_config
from mq.run import STAGES, Stage, producer_of
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


def _stage_task(config_path: str, stage: Stage, **task_kwargs):
    def run(store_run_id: str) -> dict:
        context = get_current_context()
        return tasks.run_stage(config_path, stage.name, partition_of(context), store_run_id,
                               run_url=_run_url(context))

    run.__name__ = stage.name
    run.__doc__ = (f"Stage `{stage.name}` for the run's partition: {stage.doc}. Reads "
                   f"{', '.join(stage.reads)}; produces {', '.join(stage.produces)}.")
    return task(task_id=stage.name, **task_kwargs)(run)


CERTIFICATIONS = "certifications"   # what the `certified` Asset events announce (see mq.run.STAGES)


def _announce_task(subject: str, prefix: str):
    asset = certified_asset(subject, prefix)
    certifier = producer_of(CERTIFICATIONS).name

    def announce() -> dict:
        context = get_current_context()
        outcome = context["ti"].xcom_pull(task_ids=certifier) or {}
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

        # One task per declared stage, in order. The first stage reading the warehouse waits for the
        # arrival sensors and runs when they skipped (a partition missing at its deadline is recorded
        # missing and alerted on).
        first_reader = next(s.name for s in STAGES if s.reads_warehouse)
        stage_tasks = {}
        for s in STAGES:
            kwargs = {"pool": settings.pool} if s.reads_warehouse else {}
            if s.name == first_reader:
                kwargs["trigger_rule"] = TriggerRule.NONE_FAILED
            stage_tasks[s.name] = _stage_task(path, s, **kwargs)(store_run_id)
        chain(*stage_tasks.values())
        arrival >> stage_tasks[first_reader]
        with TaskGroup("certified", tooltip="an Asset event per metric whose partition is certified") as announce:
            for subject in subjects(config):
                _announce_task(subject, settings.dag_prefix)()
        stage_tasks[producer_of(CERTIFICATIONS).name] >> announce

        @task(task_id="record", trigger_rule=TriggerRule.ALL_DONE,
              outlets=[Asset(name=f"{settings.dag_prefix}_runs", uri=f"mq://{settings.dag_prefix}/runs")])
        def record() -> dict:
            """Close the run and write its audit record; fail the DAG run if a stage failed."""
            context = get_current_context()
            ti = context["ti"]
            store_run_id = ti.xcom_pull(task_ids="start")
            if not store_run_id:
                raise AirflowFailException("task 'start' did not succeed: there is no run to record")
            outcomes = {s.name: ti.xcom_pull(task_ids=s.name) for s in STAGES}
            summary = tasks.record_run(path, partition_of(context), store_run_id, trigger_of(context),
                                       outcomes)
            if summary["status"] != "success":
                why = summary.get("error") or "; ".join(summary.get("failed_inputs", []))
                raise AirflowFailException(f"run of partition {summary['partition']} is {summary['status']}: {why}")
            return {"partition": summary["partition"], "status": summary["status"],
                    "seconds": summary["seconds"],
                    **({"history": summary["history"]} if summary.get("history") else {})}

        stage_tasks[STAGES[-1].name] >> record()
    return dag


def build_dags(settings: DagSettings | None = None) -> list[DAG]:
    """Every DAG of the config: daily pipeline, daily ledger verification, monthly SOX report, monthly
    sizing report."""
    from mq.airflow.audit_dags import build_ledger_verify_dag, build_sox_report_dag
    from mq.airflow.sizing_dag import build_sizing_report_dag

    settings = settings or DagSettings.from_environment()
    config = load_config(settings.config_path)
    return [build_daily_dag(settings, config), build_ledger_verify_dag(settings, config),
            build_sox_report_dag(settings, config), build_sizing_report_dag(settings, config)]
