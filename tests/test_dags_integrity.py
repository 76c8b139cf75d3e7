"""DAG integrity: every DAG file in dags/ imports cleanly in a fresh interpreter, with no deprecation
warnings, and every DAG has an owner, tags, retries with backoff and generated docs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"

# Runs in a child interpreter: warnings from a module fire once per process, so only a fresh one
# sees every warning the DAG files' imports cause.
PARSE = textwrap.dedent("""
    import json, sys, warnings
    warnings.simplefilter("always")
    caught = []
    warnings.showwarning = lambda m, c, f, l, file=None, line=None: caught.append(
        {"category": c.__name__, "filename": f, "message": str(m)})
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {"tags": sorted(dag.tags), "doc_md": dag.doc_md or "", "owner": dag.owner,
                        "fileloc": dag.fileloc, "timetable": type(dag.timetable).__name__,
                        "max_active_runs": dag.max_active_runs, "catchup": dag.catchup,
                        "order": [t.task_id for t in dag.topological_sort()],
                        "upstream": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
                        "tasks": {t.task_id: {"owner": t.owner, "retries": t.retries, "pool": t.pool,
                                              "backoff": t.retry_exponential_backoff,
                                              "deferrable": getattr(t, "deferrable", None)}
                                  for t in dag.tasks}}
    print("@@" + json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags,
                             "warnings": caught, "spark_started": "pyspark.sql.session" in sys.modules}))
""")


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("airflow-home")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__UNIT_TEST_MODE": "True", "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS)}
    env.pop("MQ_CONFIG", None)
    proc = subprocess.run([sys.executable, "-c", PARSE, str(DAGS)], env=env, capture_output=True, text=True,
                          timeout=300, cwd=home)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("@@")), None)
    assert line, f"DagBag did not run:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(line[2:])


def test_every_dag_file_imports_without_errors(parsed):
    assert parsed["errors"] == {}
    assert {Path(d["fileloc"]).name for d in parsed["dags"].values()} == {p.name for p in DAGS.glob("*.py")}
    assert set(parsed["dags"]) == {"metrics_quality_daily", "metrics_quality_ledger_verify",
                                   "metrics_quality_sox_report", "metrics_quality_sizing_report",
                                   "metrics_quality_certified_example"}


def test_no_deprecation_warnings(parsed):
    deprecated = [w for w in parsed["warnings"]
                  if "Deprecat" in w["category"] or "RemovedIn" in w["category"] or "deprecated" in w["message"]]
    assert deprecated == []


def test_parsing_starts_no_spark_session(parsed):
    # DAG files are parsed every few seconds: they must stay cheap (no Spark, no warehouse access).
    assert parsed["spark_started"] is False


@pytest.mark.parametrize("dag_id", ["metrics_quality_daily", "metrics_quality_ledger_verify",
                                    "metrics_quality_sox_report", "metrics_quality_sizing_report",
                                    "metrics_quality_certified_example"])
def test_dag_has_owner_tags_retries_and_docs(parsed, dag_id):
    dag = parsed["dags"][dag_id]
    assert "metrics-quality" in dag["owner"].split(",") and "airflow" not in dag["owner"]
    assert "metrics-quality" in dag["tags"] and "config:demo" in dag["tags"]
    assert "config/demo.yml" in dag["doc_md"]
    for task_id, task in dag["tasks"].items():
        assert task["owner"] == dag["owner"], task_id
        assert task["retries"] >= 1 and task["backoff"] > 1, task_id
    assert dag["max_active_runs"] == 1


def test_daily_dag_shape(parsed):
    dag = parsed["dags"]["metrics_quality_daily"]
    # A data-interval timetable: the run for [D, D+1) owns partition D (a trigger timetable has no interval).
    assert dag["timetable"] == "CronDataIntervalTimetable"
    assert dag["catchup"] is False
    assert set(dag["tasks"]) == {"pool", "start", "arrival.client_events", "arrival.warehouse_events", "pull",
                                 "validate", "detect", "alert", "certify", "certified.client_events",
                                 "certified.warehouse_events", "certified.client_vs_warehouse_events",
                                 "deliver", "record"}
    assert dag["tasks"]["arrival.warehouse_events"]["deferrable"] is True
    assert {t: dag["tasks"][t]["pool"] for t in ("pull", "validate")} == {
        "pull": "metrics_quality_warehouse", "validate": "metrics_quality_warehouse"}
    assert dag["tasks"]["pool"]["pool"] == "default_pool"   # the task that checks the pool cannot wait for it
    for table in ("client_events", "warehouse_events", "client_vs_warehouse_events"):
        assert table in dag["doc_md"]


def test_daily_dag_runs_the_declared_stages_in_order(parsed):
    """The daily DAG's tasks, in DagBag's topological order, are the stages of `mq.run.STAGES` in their
    declared order, chained one after the other, plus Airflow's own tasks around them: `pool` then
    `start` (the stages take its run id) before every stage, the `arrival` sensors before the first stage
    that reads the warehouse, the `certified` Asset events after the stage producing the certifications,
    and `record` after the last stage."""
    from mq.run import STAGES, producer_of

    dag = parsed["dags"]["metrics_quality_daily"]
    order, upstream = dag["order"], dag["upstream"]
    stages = [s.name for s in STAGES]
    assert [t for t in order if t in stages] == stages
    for before, after in zip(stages, stages[1:]):
        assert set(upstream[after]) - {"start"} == {before}, after
    arrival = [t for t in order if t.startswith("arrival.")]
    certified = [t for t in order if t.startswith("certified.")]
    assert arrival and certified
    assert set(order) == {"pool", "start", *arrival, *stages, *certified, "record"}
    first_reader = next(s.name for s in STAGES if s.reads_warehouse)
    assert upstream["pool"] == [] and upstream["start"] == ["pool"]
    assert set(upstream[first_reader]) == {"start", *arrival}
    assert all("start" in upstream[s] for s in stages)
    certifier = producer_of("certifications").name
    assert all(upstream[t] == [certifier] for t in certified)
    assert upstream["record"] == [stages[-1]]
    position = {t: i for i, t in enumerate(order)}
    assert position["start"] < position[stages[0]]
    assert max(position[t] for t in arrival) < position[first_reader]
    assert min(position[t] for t in certified) > position[certifier]


def test_sizing_report_dag_shape(parsed):
    """Monthly, on the closed month's data interval: wait for the period, then one report per pair."""
    dag = parsed["dags"]["metrics_quality_sizing_report"]
    assert dag["timetable"] == "CronDataIntervalTimetable"
    assert set(dag["tasks"]) == {"wait_for_period", "size.client_vs_warehouse_events"}
    assert dag["upstream"]["size.client_vs_warehouse_events"] == ["wait_for_period"]
    assert "client_vs_warehouse_events" in dag["doc_md"]
