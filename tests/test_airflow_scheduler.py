"""A real Airflow 3 deployment in miniature runs one daily DAG run to success on the demo data.

LocalExecutor, PostgreSQL metadata (a fresh database), and the four long-running components started
as processes (api-server, scheduler, dag-processor, triggerer) with AIRFLOW_HOME in a temp folder.
The run's warehouse partition lands only after its sensor has deferred, so the triggerer's wait path
runs too (`dag.test()` runs triggers inline instead). Every process is stopped by its id at the end.

The deployment is what is under test, not the suites or the slices: the config is the demo's with one
expectation per table and the table-wide slice only (`conftest.light_demo_config`), which keeps the two
Spark tasks short. The dag-processor parses the DAG files once (no re-parse every 30 s while the run goes).

This is the slowest test of the suite. Skip it with MQ_SKIP_SCHEDULER_TEST=1.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import light_demo_config

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DAG_ID = "metrics_quality_daily"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
RUN_DEADLINE_S = 420       # generous bound for a loaded 2-core machine; a normal run takes far less

pytestmark = pytest.mark.skipif(os.environ.get("MQ_SKIP_SCHEDULER_TEST") == "1",
                                reason="MQ_SKIP_SCHEDULER_TEST=1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _held_back_warehouse(shared: Path, work: Path, held: dt.date) -> Path:
    """`work/warehouse`: the shared demo tables, minus warehouse_events' partition `held`."""
    wh = work / "warehouse"
    (wh / "warehouse_events").mkdir(parents=True)
    (wh / "client_events").symlink_to(shared / "client_events", target_is_directory=True)
    for part in (shared / "warehouse_events").iterdir():
        if part.name != f"ds={held.isoformat()}":
            (wh / "warehouse_events" / part.name).symlink_to(part, target_is_directory=True)
    return wh / "warehouse_events" / f"ds={held.isoformat()}"


def _environment(home: Path, work: Path, pg_url: str, port: int, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "MQ_"))}      # nothing from the in-process tests leaks in
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180",
        # On a loaded machine parsing the DAG file takes longer than the processor's 50 s default.
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "180",
        # The files do not change during the test: parse them once, not every 30 s (each parse imports
        # the library and costs seconds of CPU the run's tasks need).
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_url,
        # psycopg 3 serves the async engine too (Airflow would otherwise derive an asyncpg URL).
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": pg_url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        # Only the run this test triggers: no scheduled runs of the latest interval.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "MQ_DEMO_DIR": str(work),
        "MQ_CONFIG": str(config),
        "MQ_SPARK_MASTER": "local[1]",
        "MQ_SPARK_DRIVER_MEMORY": "1g",
        "MQ_PARTITION_DEADLINE_HOURS": "1000000",   # the held-back partition is late, not missing
        "MQ_PARTITION_POKE_SECONDS": "5",
        "MQ_AIRFLOW_RETRY_DELAY_SECONDS": "5",
        "AIRFLOW_CONN_MQ_STATE_STORE": json.dumps({"conn_type": "sqlite", "host": str(work / "state.db")}),
    })
    return env


def _airflow(env: dict, *args: str, timeout: float = 240) -> None:
    proc = subprocess.run([str(BIN / "airflow"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=env["AIRFLOW_HOME"])
    assert proc.returncode == 0, f"airflow {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


def _wait_for(what: str, check, timeout: float, logs: Path, interval: float = 2.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(interval)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(logs.glob("*.log")))
    pytest.fail(f"timed out waiting for {what}\n{tails}")


@pytest.fixture
def deployment(pg_url, demo_warehouse, tmp_path):
    shared, truth = demo_warehouse
    partition = dt.date.fromisoformat(next(i["start"] for i in truth["incidents"] if i["id"] == "logging-loss"))
    home, work, logs = tmp_path / "airflow", tmp_path / "demo", tmp_path / "logs"
    for d in (home, work, logs):
        d.mkdir()
    held_back = _held_back_warehouse(shared, work, partition)
    config = light_demo_config(tmp_path, slices=[[]])
    env = _environment(home, work, pg_url, _free_port(), config)
    _airflow(env, "db", "migrate")
    _airflow(env, "pools", "set", "metrics_quality_warehouse", "2", "Spark tasks of metrics-quality")
    procs = []
    try:
        for name in COMPONENTS:
            out = open(logs / f"{name}.log", "w")
            procs.append(subprocess.Popen([str(BIN / "airflow"), name], env=env, stdout=out,
                                          stderr=subprocess.STDOUT, cwd=home, start_new_session=True))
        yield {"env": env, "engine": sa.create_engine(pg_url), "partition": partition,
               "held_back": held_back, "shared": shared, "logs": logs, "work": work}
    finally:
        for p in procs:   # each component and the workers it forked: its own process group
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:   # how a component shuts down is not under test: a few seconds, then SIGKILL
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)


def _failed_task_logs(env: dict, tasks: dict[str, str]) -> str:
    """The error lines of every task that did not succeed, for the assertion message."""
    out = []
    for task_id, state in sorted(tasks.items()):
        if state == "success":
            continue
        for log in sorted(Path(env["AIRFLOW_HOME"], "logs").glob(f"dag_id={DAG_ID}/*/task_id={task_id}/*.log")):
            for line in log.read_text(errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("level") in ("error", "critical"):
                    out.append(f"{task_id} [{log.name}]: {record.get('event')} {record.get('error_detail', '')}"[:2000])
    return "\n".join(out)


def _scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def test_scheduler_runs_the_daily_dag_to_success(deployment):
    d, engine, logs = deployment, deployment["engine"], deployment["logs"]
    _wait_for("the dag-processor to serialize the DAG",
              lambda: _scalar(engine, "SELECT count(*) FROM serialized_dag WHERE dag_id = :d", d=DAG_ID),
              timeout=180, logs=logs)
    # A manual run's data interval is the one before "now": the partition is chosen by conf.
    _airflow(d["env"], "dags", "trigger", DAG_ID, "--conf", json.dumps({"partition": d["partition"].isoformat()}))

    # The warehouse partition is late: its sensor defers to the triggerer, then the partition lands.
    _wait_for("the warehouse sensor to defer",
              lambda: _scalar(engine, "SELECT state FROM task_instance WHERE dag_id = :d "
                                      "AND task_id = 'arrival.warehouse_events'", d=DAG_ID) == "deferred",
              timeout=RUN_DEADLINE_S, logs=logs)
    _wait_for("the triggerer to take the trigger",
              lambda: _scalar(engine, "SELECT count(*) FROM trigger WHERE triggerer_id IS NOT NULL") >= 1,
              timeout=120, logs=logs)
    d["held_back"].symlink_to(d["shared"] / "warehouse_events" / d["held_back"].name, target_is_directory=True)

    state = _wait_for("the DAG run to finish",
                      lambda: _scalar(engine, "SELECT state FROM dag_run WHERE dag_id = :d "
                                              "AND state IN ('success', 'failed')", d=DAG_ID),
                      timeout=RUN_DEADLINE_S, logs=logs)
    with engine.connect() as conn:
        tasks = dict(conn.execute(sa.text("SELECT task_id, state FROM task_instance WHERE dag_id = :d"),
                                  {"d": DAG_ID}).all())
    assert state == "success", f"{tasks}\n{_failed_task_logs(d['env'], tasks)}"
    # a certification announcement is skipped when the partition is not certified (e.g. too little history)
    assert {t: s for t, s in tasks.items() if not (t.startswith("certified.") and s == "skipped")} == \
        {t: "success" for t in tasks if not (t.startswith("certified.") and tasks[t] == "skipped")}
    assert len(tasks) == 14   # the pool check, 9 sensor and stage tasks, `certify`, and one announcement per metric and pair (3)

    # The run went through the library into the state store named by the mq_state_store Connection.
    from metricstore import MetricStore

    runs = MetricStore(f"sqlite:///{d['work'] / 'state.db'}").runs()
    assert runs[["partition", "trigger", "status"]].values.tolist() == [
        [d["partition"], "airflow:manual", "success"]]
