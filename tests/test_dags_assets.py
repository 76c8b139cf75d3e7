"""Certified data as Airflow Assets: the daily DAG emits an event on a metric's Asset only when the
run's partition is certified, and the example downstream DAG (dags/certified_example.py, scheduled
on that Asset) is queued and run by the scheduler's asset logic after a certification and not before.

The daily DAG runs with `dag.test()`; the downstream run is created by the scheduler's own
asset-triggered path (`SchedulerJobRunner._create_dag_runs_asset_triggered`) and executed the way
`dag.test()` executes tasks, since `dag.test()` itself always makes a manual run.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from mq.airflow.testing import use_temporary_airflow_home

use_temporary_airflow_home()   # before anything imports airflow

from conftest import light_copy  # noqa: E402
from status.certify import CertifySettings, statuses  # noqa: E402

HISTORY_DAYS = 35   # five same-weekday seasons: a flagged day left out of a baseline still leaves the three it needs
METRIC = "warehouse_events"
CONSUMER = "metrics_quality_certified_example"


def statuses_of(pipe, day):
    """The statuses the pipeline's config certifies on `day`, from its metric store."""
    return statuses(CertifySettings.from_config(pipe.config), pipe.store, day)


def _consumer_queue(session) -> list:
    from airflow.models.asset import AssetDagRunQueue

    return session.query(AssetDagRunQueue).filter(AssetDagRunQueue.target_dag_id == CONSUMER).all()


def _schedule_asset_triggered_runs(session) -> list:
    """What the scheduler loop does for asset-triggered DAGs: create their runs from the queue."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun

    query, triggered = DagModel.dags_needing_dagruns(session)
    due = [d for d in query.all() if d.dag_id in triggered and d.dag_id == CONSUMER]
    if due:
        SchedulerJobRunner(job=Job(), executors=[])._create_dag_runs_asset_triggered(dag_models=due, session=session)
    session.commit()
    return session.query(DagRun).filter(DagRun.dag_id == CONSUMER).all()


def _execute(dag, dag_run, session) -> dict:
    """Run a created DagRun's tasks in-process (the loop of `dag.test()`); returns task -> xcom result."""
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.state import DagRunState, TaskInstanceState

    dag_run.dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))   # as dag.test() does
    dag_run.state = DagRunState.RUNNING
    session.commit()
    while dag_run.state == DagRunState.RUNNING:
        session.expire_all()
        schedulable, _ = dag_run.update_state(session=session)
        for ti in schedulable:
            ti.try_number += 1
            ti.state = TaskInstanceState.SCHEDULED
        session.commit()
        for ti in [t for t in dag_run.get_task_instances(session=session) if t.state == TaskInstanceState.SCHEDULED]:
            _run_task(ti=ti, task=dag.task_dict[ti.task_id])
    return {ti.task_id: ti.xcom_pull(task_ids=ti.task_id) for ti in dag_run.get_task_instances(session=session)}


def _forget_earlier_runs() -> None:
    """The metadata database is the process's: another module's DAG runs may have left certified-asset
    events and queued or finished consumer runs in it, which this module counts from zero."""
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        assets = [a.id for a in session.query(AssetModel).filter(
            AssetModel.name == f"metrics_quality_certified_{METRIC}")]
        session.query(AssetEvent).filter(AssetEvent.asset_id.in_(assets)).delete(synchronize_session=False)
        session.query(AssetDagRunQueue).filter(AssetDagRunQueue.target_dag_id == CONSUMER).delete(
            synchronize_session=False)
        session.query(DagRun).filter(DagRun.dag_id == CONSUMER).delete(synchronize_session=False)


@pytest.fixture(scope="module")
def airflow_demo(spark, demo_warehouse, light_history, light_home, tmp_path_factory):
    from mq.airflow.factory import build_daily_dag
    from mq.airflow.testing import init_metadata_db
    from mq.airflow.settings import DagSettings
    from mq.config import load_config
    from mq.pipeline import Pipeline

    work = light_copy(light_history, light_home, tmp_path_factory, "dag-assets")
    by_id = {i["id"]: i for i in demo_warehouse[1]["incidents"]}
    missing = dt.date.fromisoformat(by_id["missing-partition"]["start"])   # warehouse_events has no partition
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MQ_DEMO_DIR", str(work))
        for name in ("MQ_STATE_URL", "MQ_RECEIVER", "MQ_CONFIG", "MQ_SPARK_MASTER", "MQ_SPARK_REMOTE"):
            mp.delenv(name, raising=False)
        mp.setenv("MQ_EXAMPLE_METRIC", METRIC)   # dags/certified_example.py consumes this metric's Asset
        init_metadata_db()
        _forget_earlier_runs()
        config_path = work / "mq.yml"   # certification needs a suite's outcome, not a full suite
        config = load_config(config_path)
        pipe = Pipeline(config, spark=spark, state_url=f"sqlite:///{work / 'state.db'}")
        # The shared history (conftest `light_history`), carried on to the eve of the missing partition.
        history_end = light_history[1]
        assert (missing - dt.date.fromisoformat(demo_warehouse[1]["spec"]["start"])).days >= HISTORY_DAYS
        pipe.backfill(history_end + dt.timedelta(days=1), missing - dt.timedelta(days=1))
        pipe.engine.dispose()
        mp.setenv("AIRFLOW_CONN_MQ_STATE_STORE", json.dumps({"conn_type": "sqlite", "host": str(work / "state.db")}))
        daily = build_daily_dag(DagSettings(config_path=config_path, retries=0), config)
        yield {"daily": daily, "missing": missing, "pipe": pipe, "config_path": config_path}


def test_downstream_dag_runs_after_certification_and_not_before(airflow_demo):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    from mq.airflow.downstream import build_certified_example_dag
    from mq.airflow.partition import logical_date_for
    from mq.airflow.settings import DagSettings

    daily, missing, pipe = airflow_demo["daily"], airflow_demo["missing"], airflow_demo["pipe"]
    # 1. The missing partition: the metric fails certification, its announce task is skipped.
    run = daily.test(logical_date=logical_date_for(missing))
    with create_session() as session:
        states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances(session=session)}
        assert states[f"certified.{METRIC}"] == "skipped" and states["record"] == "success"
        assert {s.subject: s.status for s in statuses_of(pipe, missing)}[METRIC] == "failed"
        asset = session.query(AssetModel).filter(AssetModel.name == f"metrics_quality_certified_{METRIC}").one()
        assert session.query(AssetEvent).filter(AssetEvent.asset_id == asset.id).count() == 0
        assert _consumer_queue(session) == [] and _schedule_asset_triggered_runs(session) == []   # not before

    # 2. The next day is complete and quiet: certified, an event, and the consumer runs on it.
    day = missing + dt.timedelta(days=1)
    run = daily.test(logical_date=logical_date_for(day))
    with create_session() as session:
        states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances(session=session)}
        status = {s.subject: s for s in statuses_of(pipe, day)}[METRIC]
        assert status.status == "certified", status.reason
        assert states[f"certified.{METRIC}"] == "success"
        events = session.query(AssetEvent).filter(AssetEvent.asset_id == asset.id).all()
        assert [e.extra for e in events] == [{"partition": day.isoformat(), "subject": METRIC}]
        assert len(_consumer_queue(session)) == 1
        runs = _schedule_asset_triggered_runs(session)
        assert len(runs) == 1 and str(getattr(runs[0].run_type, "value", runs[0].run_type)) == "asset_triggered"
        consumer = build_certified_example_dag(DagSettings(config_path=airflow_demo["config_path"], retries=0),
                                               subject=METRIC)
        results = _execute(consumer, runs[0], session)
        assert results["use_certified_partition"] == [day.isoformat()]
