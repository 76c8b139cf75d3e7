"""The daily DAG's first task: the Spark tasks' pool exists, is created, or the run fails in one line.

Against Airflow's own REST API app (in-process, simple auth manager with every user an admin, a
throw-away metadata database), and against an API address where nothing listens.
"""
from __future__ import annotations

import json
import socket

import pytest

from mq.airflow.testing import use_temporary_airflow_home

use_temporary_airflow_home()   # before anything imports airflow

POOL = "mq_test_pool"


@pytest.fixture(scope="module")
def api():
    from mq.airflow.testing import init_metadata_db

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
        mp.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "s" * 64)
        init_metadata_db()
        from airflow.api_fastapi.app import create_app
        from fastapi.testclient import TestClient

        with TestClient(create_app("core"), base_url="http://airflow.test") as client:
            yield client


def test_a_missing_pool_is_one_line_with_the_command_and_an_existing_pool_passes(api):
    from mq.airflow.pool import ApiTarget, PoolError, ensure_pool

    target = ApiTarget("http://airflow.test")
    with pytest.raises(PoolError) as missing:
        ensure_pool(api, target, POOL, create=False)
    assert str(missing.value).count("\n") == 0
    assert f"Airflow pool '{POOL}' does not exist" in str(missing.value)
    assert f'run: airflow pools set {POOL} 2 "Spark tasks of metrics-quality (pull, validate)"' in str(missing.value)

    assert ensure_pool(api, target, POOL, create=True) == "created"
    assert ensure_pool(api, target, POOL, create=False) == "exists"
    assert api.get(f"/api/v2/pools/{POOL}").json()["slots"] == 2


def test_an_unreachable_api_is_one_line_not_a_traceback(monkeypatch):
    from mq.airflow.pool import PoolError, check_pool

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]          # closed again: nothing listens there
    monkeypatch.setenv("AIRFLOW_CONN_MQ_AIRFLOW_API", json.dumps({"conn_type": "http", "host": "127.0.0.1",
                                                                  "port": port}))
    with pytest.raises(PoolError) as err:
        check_pool(POOL, "check", under_test=False)
    assert str(err.value) == (
        f"cannot check Airflow pool '{POOL}': the API at http://127.0.0.1:{port} is unreachable (ConnectError); "
        f"set the Connection mq_airflow_api, or create the pool "
        f'(airflow pools set {POOL} 2 "Spark tasks of metrics-quality (pull, validate)") '
        f"and set MQ_AIRFLOW_POOL_CHECK=off")
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_dag_test_and_off_do_not_call_the_api():
    from mq.airflow.pool import check_pool

    assert "dag.test() runs every task in-process and ignores pools" in check_pool(POOL, "check", under_test=True)
    assert check_pool(POOL, "off", under_test=False) == f"pool '{POOL}' not checked (MQ_AIRFLOW_POOL_CHECK=off)"
