"""Run the DAGs in-process against a throw-away Airflow home (for tests of a config's DAGs).

`use_temporary_airflow_home()` must run before `airflow` is first imported: Airflow reads its home and
config at import time. It is idempotent within a process, so several test modules can call it.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_MARK = "MQ_TEST_AIRFLOW_HOME"


def use_temporary_airflow_home(dags_folder: Path = REPO / "dags") -> Path:
    if os.environ.get(_MARK):
        return Path(os.environ[_MARK])
    home = Path(tempfile.mkdtemp(prefix="mq-airflow-home-"))
    os.environ.update({
        _MARK: str(home),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    })
    return home


def init_metadata_db() -> None:
    """Create the metadata tables once (a no-op when they exist)."""
    from airflow.utils import db

    db.initdb()
