"""The daily DAG, run with `dag.test()` on the demo data, does what `Pipeline.run` does.

History (the demo's first four weeks, enough for the detectors: conftest `light_history`, shared with
test_dags_assets.py) is backfilled once through the library and copied, so the DAG's store and the
command line's store start identical. Then the incident dates run through the
DAG on one store (its state store comes from the `mq_state_store` Connection) and through
`Pipeline.run` on the other; alerts, stored points and audit records must agree, and a re-run of a date
must add nothing. The suites hold one expectation per table (`conftest.LIGHT_SUITES`): the comparison
needs a check's outcome on both paths, not the whole suite, which costs four times as much per run.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

from mq.airflow.testing import use_temporary_airflow_home

use_temporary_airflow_home()   # before anything imports airflow

import pandas as pd  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from conftest import light_copy  # noqa: E402

HISTORY_DAYS = 21          # seasonal_mad gives verdicts from three weeks of history on
WALL_CLOCK_FIELDS = ("id", "first_fired_at", "last_fired_at")


def incident_dates(truth: dict) -> dict[str, dt.date]:
    by_id = {i["id"]: i for i in truth["incidents"]}
    return {name: dt.date.fromisoformat(by_id[name]["start"])
            for name in ("logging-loss", "missing-partition", "null-spike")}


@pytest.fixture(scope="module")
def runs(spark, demo_warehouse, light_history, light_home, tmp_path_factory):
    from mq.airflow.factory import build_daily_dag
    from mq.airflow.partition import logical_date_for
    from mq.airflow.settings import DagSettings
    from mq.airflow.testing import init_metadata_db
    from mq.config import load_config
    from mq.pipeline import Pipeline

    work = light_copy(light_history, light_home, tmp_path_factory, "dag-vs-cli")
    incidents = incident_dates(demo_warehouse[1])
    loss = incidents["logging-loss"]
    # Three consecutive dates around the start of an incident, then two single incident dates.
    dates = [loss - dt.timedelta(days=1), loss, loss + dt.timedelta(days=1),
             incidents["missing-partition"], incidents["null-spike"]]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MQ_DEMO_DIR", str(work))
        for name in ("MQ_STATE_URL", "MQ_RECEIVER", "MQ_CONFIG", "MQ_SPARK_MASTER", "MQ_SPARK_REMOTE"):
            mp.delenv(name, raising=False)
        init_metadata_db()
        config_path = work / "mq.yml"   # what is compared is the same with one check per table
        config = load_config(config_path)
        shutil.copy(work / "state.db", work / "cli.db")
        cli = Pipeline(config, spark=spark, state_url=f"sqlite:///{work / 'cli.db'}")
        history_end = light_history[1]
        assert (history_end - dt.date.fromisoformat(demo_warehouse[1]["spec"]["start"])).days + 1 >= HISTORY_DAYS
        if history_end < dates[0] - dt.timedelta(days=1):
            cli.backfill(history_end + dt.timedelta(days=1), dates[0] - dt.timedelta(days=1))
        cli.engine.dispose()
        shutil.copy(work / "cli.db", work / "dag.db")
        mp.setenv("AIRFLOW_CONN_MQ_STATE_STORE", json.dumps({"conn_type": "sqlite", "host": str(work / "dag.db")}))

        dag = build_daily_dag(DagSettings(config_path=config_path, retries=0), config)
        states = {}
        for day in dates:
            dag_run = dag.test(logical_date=logical_date_for(day))
            states[day] = _task_states(dag_run)
            cli.run(day, trigger="cli")
        yield {"dag": dag, "dates": dates, "work": work, "config": config, "config_path": config_path,
               "incidents": incidents, "states": states, "cli": cli,
               "dag_store": Pipeline(config, spark=spark, state_url=f"sqlite:///{work / 'dag.db'}")}


def _task_states(dag_run) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_run.dag_id,
                                                 TaskInstance.run_id == dag_run.run_id).all()
        return {ti.task_id: str(ti.state.value if hasattr(ti.state, "value") else ti.state) for ti in tis}


def alerts_without_wall_clock(pipe) -> list[dict]:
    from mq.commands import alert_records

    rows = [{k: v for k, v in r.items() if k not in WALL_CLOCK_FIELDS} for r in alert_records(pipe)]
    return sorted(rows, key=lambda r: (r["partition"], r["fingerprint"]))


def ledger_keys(pipe, dates) -> list[tuple[str, str]]:
    return sorted((r.kind, r.key) for r in pipe.ledger.records(start=min(dates), end=max(dates)))


def stored_rows(pipe) -> dict[str, list]:
    from metricstore import schema

    with pipe.engine.connect() as conn:
        points = pd.read_sql(sa.select(schema.metric_points.c.metric, schema.metric_points.c.slice_key,
                                       schema.metric_points.c.partition, schema.metric_points.c.version,
                                       schema.metric_points.c.value), conn)
        pulls = pd.read_sql(sa.select(schema.pulls.c.table_name, schema.pulls.c.partition,
                                      schema.pulls.c.version, schema.pulls.c.status,
                                      schema.pulls.c.row_count, schema.pulls.c.content_hash), conn)
    return {"points": sorted(map(tuple, points.astype(str).values.tolist())),
            "pulls": sorted(map(tuple, pulls.astype(str).values.tolist()))}


def test_every_dag_run_succeeds(runs):
    for day, states in runs["states"].items():
        failed = {t: s for t, s in states.items() if s not in ("success", "skipped")}
        assert failed == {}, f"{day}: {failed}"


def test_dag_raises_the_same_alerts_as_pipeline_run(runs):
    from_dag, from_cli = alerts_without_wall_clock(runs["dag_store"]), alerts_without_wall_clock(runs["cli"])
    assert from_dag == from_cli
    # The comparison covers every kind of finding the incidents produce.
    kinds = {(a["kind"], a["partition"]) for a in from_dag}
    inc = runs["incidents"]
    assert ("discrepancy", inc["logging-loss"].isoformat()) in kinds
    assert ("freshness", inc["missing-partition"].isoformat()) in kinds
    assert ("expectation", inc["null-spike"].isoformat()) in kinds


def test_late_partition_is_skipped_and_still_raises_the_freshness_alert(runs):
    states = runs["states"][runs["incidents"]["missing-partition"]]
    assert states["arrival.warehouse_events"] == "skipped"
    assert states["arrival.client_events"] == "success"
    assert states["pull"] == states["alert"] == states["record"] == "success"


def test_dag_writes_the_same_audit_records_as_pipeline_run(runs):
    dates = runs["dates"]
    assert ledger_keys(runs["dag_store"], dates) == ledger_keys(runs["cli"], dates)
    assert runs["dag_store"].ledger.verify().ok


def test_rerun_of_a_date_adds_nothing(runs):
    from mq.airflow.partition import logical_date_for

    pipe, middle = runs["dag_store"], runs["dates"][1]
    before = (stored_rows(pipe), alerts_without_wall_clock(pipe), ledger_keys(pipe, runs["dates"]),
              sorted(i.key for i in pipe.outbox.items()))
    dag_run = runs["dag"].test(logical_date=logical_date_for(middle))
    assert _task_states(dag_run)["record"] == "success"
    after = (stored_rows(pipe), alerts_without_wall_clock(pipe), ledger_keys(pipe, runs["dates"]),
             sorted(i.key for i in pipe.outbox.items()))
    assert after == before
    # ... and the store holds what single runs of each date hold.
    assert after[0] == stored_rows(runs["cli"])
    assert after[1] == alerts_without_wall_clock(runs["cli"])


def test_sox_report_dag_writes_the_closed_month(runs):
    from mq.airflow.audit_dags import build_sox_report_dag
    from mq.airflow.settings import DagSettings

    dag = build_sox_report_dag(DagSettings(config_path=runs["config_path"], retries=0), runs["config"])
    month = runs["dates"][0].replace(day=1)
    next_month = (month + dt.timedelta(days=32)).replace(day=1)
    # A manual run at the start of a month owns the month before it.
    dag_run = dag.test(logical_date=dt.datetime.combine(next_month, dt.time(), tzinfo=dt.timezone.utc))
    assert set(_task_states(dag_run).values()) == {"success"}
    last = next_month - dt.timedelta(days=1)
    report = runs["work"] / "reports" / "sox" / f"{month}_{last}"
    assert (report / "index.html").is_file() and (report / "ledger_verification.csv").is_file()
    # The evidence covers exactly the month's runs in the state store the Connection names.
    assert len(pd.read_csv(report / "runs.csv")) == len(runs["dag_store"].store.runs(month, last)) > 0


def test_sizing_report_dag_writes_each_pairs_closed_month_and_a_rerun_rewrites_it_unchanged(runs):
    from mq.airflow.settings import DagSettings
    from mq.airflow.sizing_dag import build_sizing_report_dag

    dag = build_sizing_report_dag(DagSettings(config_path=runs["config_path"], retries=0), runs["config"])
    month = runs["dates"][0].replace(day=1)
    next_month = (month + dt.timedelta(days=32)).replace(day=1)
    last = next_month - dt.timedelta(days=1)
    when = dt.datetime.combine(next_month, dt.time(), tzinfo=dt.timezone.utc)
    assert set(_task_states(dag.test(logical_date=when)).values()) == {"success"}
    report = runs["work"] / "reports" / "sizing" / "client_vs_warehouse_events" / f"{month}_{last}"
    slices = pd.read_csv(report / "daily.csv")
    # The month's days, read from the state store the Connection names (the DAG's, not the CLI's).
    points = runs["dag_store"].store.points(["warehouse_events"], month, last)
    assert set(slices.partition) == {str(d) for d in points.partition}
    first = {p.name: p.read_text() for p in report.glob("*.csv")}
    assert set(_task_states(dag.test(logical_date=when)).values()) == {"success"}
    assert {p.name: p.read_text() for p in report.glob("*.csv")} == first


def test_ledger_verify_dag_fails_and_notifies_on_a_broken_chain(runs, tmp_path, monkeypatch):
    from mq.airflow.audit_dags import build_ledger_verify_dag
    from mq.airflow.settings import DagSettings

    copy = tmp_path / "tampered.db"
    shutil.copy(runs["work"] / "dag.db", copy)
    monkeypatch.setenv("AIRFLOW_CONN_MQ_STATE_STORE", json.dumps({"conn_type": "sqlite", "host": str(copy)}))
    dag = build_ledger_verify_dag(DagSettings(config_path=runs["config_path"], retries=0), runs["config"])
    when = dt.datetime(2026, 10, 12, 6, tzinfo=dt.timezone.utc)
    assert _task_states(dag.test(logical_date=when)) == {"verify": "success"}

    engine = sa.create_engine(f"sqlite:///{copy}")
    with engine.begin() as conn:   # an edit behind the ledger's back (its guard triggers dropped first)
        conn.exec_driver_sql("DROP TRIGGER mq_ledger_no_update")
        conn.execute(sa.text("UPDATE mq_ledger SET payload = :p WHERE seq = 5"), {"p": '{"edited": true}'})
    engine.dispose()
    assert _task_states(dag.test(logical_date=when + dt.timedelta(days=1))) == {"verify": "failed"}
    sink = runs["work"] / "alerts" / "notifications.jsonl"
    broken = [json.loads(line) for line in sink.read_text().splitlines() if "audit ledger BROKEN" in line]
    assert broken and broken[-1]["notification"]["severity"] == "critical"
    assert broken[-1]["notification"]["kind"] == "ledger"
