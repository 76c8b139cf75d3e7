"""Spark Connect by config: the same pull through a `sc://` URL gives the same numbers.

Starts a local Spark Connect server (the one shipped in pyspark's jars) for this module and runs the
pull in a separate Python process, as a user's `spark.remote: sc://...` config would.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pyspark
from mq.config import Config
from pulls import pull_partition, register_tables

DAY = dt.date(2026, 3, 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def connect_url():
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    port = free_port()
    env = {**os.environ, "SPARK_CONF_DIR": str(Path(__file__).parents[1] / "mq" / "conf"),
           "SPARK_LOCAL_IP": "127.0.0.1"}
    server = subprocess.Popen(
        [str(submit), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer", "--master", "local[1]",
         "--conf", f"spark.connect.grpc.binding.port={port}", "--conf", "spark.ui.enabled=false",
         "--conf", "spark.driver.memory=1g", "spark-internal"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None:
                pytest.fail("the Spark Connect server exited at start")
            time.sleep(1)
    else:
        server.kill()
        pytest.fail("the Spark Connect server did not open its port within 120 s")
    yield f"sc://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=30)


PULL = """
import datetime as dt, json, sys
from mq.config import Config
from mq.spark import get_spark
from pulls import pull_partition, register_tables
config = Config.model_validate(json.loads(sys.argv[1]))
spark = get_spark(remote=config.spark.remote)
register_tables(spark, config)
r = pull_partition(spark, config, "events", dt.date.fromisoformat(sys.argv[2]))
print(json.dumps({"type": type(spark).__module__, "rows": r.row_count,
                  "points": sorted([k, v] for k, v in zip(r.points.slice_key, r.points.value)),
                  "files": [f["file"] for f in r.evidence["input_files"]]}))
"""


def test_pull_through_spark_connect_matches_local(spark, tmp_path, connect_url):
    path = tmp_path / "events"
    rows = [(f"e{i}", ["ios", "web"][i % 2], DAY.isoformat()) for i in range(50)]
    spark.createDataFrame(rows, "event_id string, platform string, ds string").write.partitionBy("ds").parquet(str(path))
    body = {"dimensions": ["platform"], "slices": [[], ["platform"]], "tables": {"events": {"path": str(path)}},
            "metrics": {"n": {"table": "events"}}, "spark": {"remote": connect_url}}
    out = subprocess.run([sys.executable, "-c", PULL, json.dumps(body), DAY.isoformat()], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"})
    assert out.returncode == 0, out.stderr[-2000:]
    remote = json.loads(out.stdout.strip().splitlines()[-1])
    assert remote["type"].startswith("pyspark.sql.connect")
    config = Config.model_validate({**body, "spark": {}})
    register_tables(spark, config)
    local = pull_partition(spark, config, "events", DAY)
    assert remote["rows"] == local.row_count == 50
    assert remote["points"] == sorted([k, v] for k, v in zip(local.points.slice_key, local.points.value))
    assert remote["files"] == [f["file"] for f in local.evidence["input_files"]]
