"""A backfilled copy of the small demo warehouse shared by the incident, status-page and Slack tests.

A copy (11 MB), not the session's shared folder, because the certification test adds late data to it."""
from __future__ import annotations

import datetime as dt
import shutil

import pytest

from conftest import DEMO_CONFIG


@pytest.fixture(scope="session")
def worked_demo(demo_warehouse, spark, tmp_path_factory):
    """(pipeline, ground truth, workdir, (start, end)) after a full backfill into SQLite."""
    from mq.config import load_config
    from mq.pipeline import Pipeline

    work = tmp_path_factory.mktemp("worked_demo")
    shutil.copytree(demo_warehouse[0], work / "warehouse")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MQ_DEMO_DIR", str(work))
        mp.delenv("MQ_STATE_URL", raising=False)
        mp.delenv("MQ_RECEIVER", raising=False)
        pipe = Pipeline(load_config(DEMO_CONFIG), spark=spark)
        spec = demo_warehouse[1]["spec"]
        start, end = dt.date.fromisoformat(spec["start"]), dt.date.fromisoformat(spec["end"])
        pipe.backfill(start, end)
        yield pipe, demo_warehouse[1], work, (start, end)
