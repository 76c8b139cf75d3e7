"""One place that builds the SparkSession.

Local `local[*]` by default; any `spark.master` (standalone, YARN, Kubernetes) or a Spark Connect URL
(`sc://host:15002`) by config or by the environment variables `MQ_SPARK_MASTER` / `MQ_SPARK_REMOTE`.
Extra Spark conf passes straight through. The session is created once per process and reused
(`getOrCreate`), which is what tests and Airflow workers want.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Mapping

_CONF_DIR = Path(__file__).parent / "conf"


def quiet_spark_environment() -> None:
    """Keep Spark's console output to errors only (log4j2 file, loopback bind, no progress bars)."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("SPARK_CONF_DIR", str(_CONF_DIR))
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    # Python workers (applyInPandas) run this interpreter, not whatever `python3` is first on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # PySpark logs every analysis error as JSON on stderr before raising it; mq reports the error itself.
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)


def get_spark(master: str | None = None, remote: str | None = None,
              conf: Mapping[str, str] | None = None, app_name: str = "metrics-quality"):
    """Return the process's SparkSession, creating it on first use.

    `remote` (a `sc://` URL) wins over `master`; both fall back to the environment, then `local[*]`.
    """
    quiet_spark_environment()
    from pyspark.sql import SparkSession

    remote = remote or os.environ.get("MQ_SPARK_REMOTE")
    master = master or os.environ.get("MQ_SPARK_MASTER") or "local[*]"
    builder = SparkSession.builder.appName(app_name)
    if remote:
        builder = builder.remote(remote)
    else:
        builder = (builder.master(master)
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.session.timeZone", "UTC")
                   .config("spark.sql.shuffle.partitions", "8")
                   .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                   .config("spark.driver.memory", os.environ.get("MQ_SPARK_DRIVER_MEMORY", "2g")))
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    with _jvm_output_above_progress_bars(local=not remote):
        spark = builder.getOrCreate()
    if not remote:
        spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextlib.contextmanager
def _jvm_output_above_progress_bars(local: bool):
    """A JVM started in this block prints through tqdm, so its lines never land inside a progress bar.

    The JVM writes to the file descriptors it inherits, past Python's `sys.stderr`: on a terminal a
    Spark warning then lands in the middle of the bar's line and the bar goes on below it. Here the
    JVM inherits a pipe instead (for stdout and stderr), and a thread prints each line to the terminal
    inside `tqdm.external_write_mode`, which clears the bars drawn on stderr and redraws them after
    (what `tqdm.write` does; https://tqdm.github.io/docs/tqdm/#write). Off a terminal nothing is
    drawn, so nothing changes there.
    """
    if not local or not sys.stderr.isatty():
        yield
        return
    terminal = os.fdopen(os.dup(sys.stderr.fileno()), "w", errors="replace")
    read, write = os.pipe()
    threading.Thread(target=_forward_lines, args=(read, terminal), name="jvm-output", daemon=True).start()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    for fd in saved:
        os.dup2(write, fd)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, original in saved.items():
            os.dup2(original, fd)
            os.close(original)
        os.close(write)   # the JVM holds its own copy: the thread ends when the JVM does


def _forward_lines(read_fd: int, terminal) -> None:
    from tqdm import tqdm

    with os.fdopen(read_fd, "r", errors="replace") as lines:
        for line in lines:
            with tqdm.external_write_mode(file=sys.stderr):
                terminal.write(line)
                terminal.flush()
