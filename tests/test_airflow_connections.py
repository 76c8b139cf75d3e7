"""Airflow Connections map to the Spark target and state store URL the pipeline uses; secrets stay hidden."""
from __future__ import annotations

import json

import pytest

from mq.airflow.testing import use_temporary_airflow_home

use_temporary_airflow_home()   # before anything imports airflow

from airflow.sdk import Connection  # noqa: E402

from mq.airflow.connections import spark_target_from_connection, state_url_from_connection  # noqa: E402
from mq.errors import ConfigError  # noqa: E402


def _conn(**kw) -> Connection:
    extra = kw.pop("extra", None)
    return Connection(conn_id=kw.pop("conn_id", "spark_default"), extra=json.dumps(extra) if extra else None, **kw)


@pytest.mark.parametrize("conn, master, remote", [
    (_conn(conn_type="spark", host="local[2]"), "local[2]", None),
    (_conn(conn_type="spark", host="yarn"), "yarn", None),
    (_conn(conn_type="spark", host="spark://master.internal", port=7077), "spark://master.internal:7077", None),
    # From a URI (AIRFLOW_CONN_SPARK_DEFAULT=spark://master.internal:7077) the scheme is the conn type.
    (_conn(conn_type="spark", host="master.internal", port=7077), "spark://master.internal:7077", None),
    (_conn(conn_type="k8s", host="https://k8s.internal", port=6443), "k8s://https://k8s.internal:6443", None),
    (_conn(conn_type="spark_connect", host="connect.internal", port=15002), None, "sc://connect.internal:15002/"),
    (_conn(conn_type="spark", host="sc://connect.internal", port=15002), None, "sc://connect.internal:15002/"),
])
def test_spark_connection_maps_to_master_or_connect_url(conn, master, remote):
    target = spark_target_from_connection(conn)
    assert (target.master, target.remote) == (master, remote)


def test_spark_conf_from_config_then_connection_extras():
    conn = _conn(conn_type="spark", host="local[2]",
                 extra={"spark.executor.memory": "2g", "queue": "ignored",
                        "conf": {"spark.sql.shuffle.partitions": "16"}})
    target = spark_target_from_connection(conn, base_conf={"spark.sql.shuffle.partitions": "8", "spark.x": "1"})
    assert target.conf == {"spark.sql.shuffle.partitions": "16", "spark.x": "1", "spark.executor.memory": "2g"}


def test_spark_connect_token_is_in_the_url_but_never_shown():
    conn = _conn(conn_type="spark_connect", host="connect.internal", port=15002, login="svc", password="s3cr3t-token",
                 extra={"use_ssl": True})
    target = spark_target_from_connection(conn)
    assert target.remote == "sc://connect.internal:15002/;user_id=svc;token=s3cr3t-token;use_ssl=true"
    assert "s3cr3t" not in repr(target) and "s3cr3t" not in target.describe()


def test_spark_connection_without_host_names_the_problem():
    with pytest.raises(ConfigError, match="host"):
        spark_target_from_connection(_conn(conn_type="spark"))


@pytest.mark.parametrize("conn, url", [
    (_conn(conn_id="mq_state_store", conn_type="postgres", host="db", port=5432, login="mq", password="pw",
           schema="mq_state"), "postgresql+psycopg://mq:pw@db:5432/mq_state"),
    (_conn(conn_id="mq_state_store", conn_type="sqlite", host="/var/lib/mq/state.db"),
     "sqlite:////var/lib/mq/state.db"),
    (_conn(conn_id="mq_state_store", conn_type="generic", extra={"url": "sqlite:///x.db"}), "sqlite:///x.db"),
])
def test_state_store_connection_maps_to_a_sqlalchemy_url(conn, url):
    assert state_url_from_connection(conn) == url


def test_state_store_connection_of_unknown_type_is_refused():
    with pytest.raises(ConfigError, match="postgres or sqlite"):
        state_url_from_connection(_conn(conn_id="mq_state_store", conn_type="http", host="x"))
