"""docker-compose.yml: valid against the Compose Specification's JSON schema, and wired as documented."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from mq.airflow.testing import use_temporary_airflow_home

use_temporary_airflow_home()   # before anything imports airflow

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
SCHEMA = REPO / "tests" / "data" / "compose-spec.json"
AIRFLOW_SERVICES = ("airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


def test_compose_file_matches_the_compose_spec_schema(compose, validator):
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_schema_rejects_what_compose_rejects(compose, validator):
    # The check has teeth: an unknown service key and a bad depends_on condition are both errors.
    broken = json.loads(json.dumps(compose))
    broken["services"]["postgres"]["restart_policy"] = "always"
    broken["services"]["airflow-scheduler"]["depends_on"]["postgres"]["condition"] = "service_ready"
    assert len(list(validator.iter_errors(broken))) >= 2


def test_services_and_their_wiring(compose):
    services = compose["services"]
    assert set(services) == {"preflight", "postgres", "demo-data", *AIRFLOW_SERVICES, "spark-master", "spark-worker", "mq-status"}
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert "@postgres:5432/mq_state" in env["AIRFLOW_CONN_MQ_STATE_STORE"]
        assert json.loads(env["AIRFLOW_CONN_SPARK_DEFAULT"])["host"] == "spark://spark-master"
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"
    assert services["airflow-scheduler"]["depends_on"]["demo-data"]["condition"] == "service_completed_successfully"
    assert services["demo-data"]["command"][:2] == ["demo", "--generate-only"]
    assert services["spark-worker"]["command"][1] == "spark://spark-master:7077"
    # The demo data lands where the Airflow tasks and the Spark workers both read it.
    for name in ("demo-data", "airflow-scheduler", "spark-worker"):
        assert "demo-data:/data/demo" in services[name]["volumes"]


def test_status_service_serves_the_dags_state_store_on_this_machine_only(compose):
    status = compose["services"]["mq-status"]
    assert status["entrypoint"] == ["mq"] and status["command"][0] == "serve"
    assert status["ports"] == ["127.0.0.1:8765:8765"]
    env = status["environment"]
    # the same database the DAGs write through the mq_state_store Connection
    assert env["MQ_STATE_URL"].split("@", 1)[1] == env["AIRFLOW_CONN_MQ_STATE_STORE"].split("@", 1)[1]
    assert env["MQ_SERVE_TOKEN"] == "${MQ_SERVE_TOKEN:-}"      # no token in the file: read-only by default
    assert status["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_spark_connection_in_compose_maps_to_a_standalone_master(compose):
    from airflow.sdk import Connection

    from mq.airflow.connections import spark_target_from_connection

    raw = json.loads(compose["services"]["airflow-scheduler"]["environment"]["AIRFLOW_CONN_SPARK_DEFAULT"])
    conn = Connection(conn_id="spark_default", conn_type=raw["conn_type"], host=raw["host"], port=raw["port"],
                      extra=json.dumps(raw["extra"]))
    target = spark_target_from_connection(conn, base_conf={"spark.sql.shuffle.partitions": "8"})
    assert target.master == "spark://spark-master:7077" and target.remote is None
    assert target.conf["spark.driver.host"] == "airflow-scheduler"
    assert target.conf["spark.sql.shuffle.partitions"] == "8"


def test_image_is_the_official_airflow_image_with_the_project_installed():
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert "FROM apache/airflow:3.3.2-python3.11" in dockerfile
    assert 'pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" /opt/mq' in dockerfile
    for package in ("core", "mq", "pulls", "metricstore", "checks", "detectors", "rootcause", "alerting", "ledger",
                    "reports", "controls", "incidents", "status", "config", "dags"):
        assert f"COPY --chown=airflow:root {package} ./{package}" in dockerfile


def _compose_plugin() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _compose_plugin(), reason="the docker compose plugin is not installed here")
def test_docker_compose_config_accepts_the_file():
    proc = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_published_ports_bind_to_this_machine_only(compose):
    published = [p for s in compose["services"].values() for p in s.get("ports", [])]
    assert published and all(str(p).startswith("127.0.0.1:") for p in published)


def test_every_service_waits_for_the_preflight(compose):
    services = compose["services"]

    def waits(name, seen=()):
        deps = services[name].get("depends_on") or {}
        return "preflight" in deps or any(waits(d, seen + (name,)) for d in deps if d not in seen)
    assert all(waits(name) for name in services if name != "preflight")
    assert services["preflight"]["command"] and services["preflight"]["restart"] == "no"


def _preflight(compose, env: dict) -> subprocess.CompletedProcess:
    script = compose["services"]["preflight"]["command"][0].replace("$$", "$")   # compose's escaping
    return subprocess.run(["/bin/sh", "-c", script], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=30)


DEFAULTS = {"POSTGRES_PASSWORD": "airflow", "AIRFLOW_JWT_SECRET": "demo-only-change-me",
            "AIRFLOW_API_SECRET_KEY": "demo-only-change-me"}


def test_preflight_refuses_the_demo_defaults_outside_demo_mode(compose):
    refused = _preflight(compose, {"MQ_DEMO": "false", **DEFAULTS})
    assert refused.returncode == 1
    assert "POSTGRES_PASSWORD AIRFLOW_JWT_SECRET AIRFLOW_API_SECRET_KEY" in refused.stderr
    assert _preflight(compose, {"MQ_DEMO": "true", **DEFAULTS}).returncode == 0
    real = {k: f"real-{k.lower()}" for k in DEFAULTS}
    assert _preflight(compose, {"MQ_DEMO": "false", **real}).returncode == 0
    env = compose["services"]["preflight"]["environment"]
    assert env["MQ_DEMO"] == "${MQ_DEMO:-false}"          # no demo mode unless asked for


def test_only_the_demo_makes_everyone_admin_and_env_files_stay_out_of_git(compose):
    env = compose["services"]["airflow-apiserver"]["environment"]
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "${MQ_DEMO:-false}"
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()
    assert (REPO / ".env.example").is_file()
