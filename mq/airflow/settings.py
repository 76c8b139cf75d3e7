"""What the DAGs are built from: the config path and the scheduling knobs, read when a DAG file is parsed.

The config path comes from the Airflow Variable `mq_config`, else $MQ_CONFIG, else the bundled demo
config, the same file the `mq` command line would read. Scheduling knobs come from the environment
(`MQ_AIRFLOW_*`, `MQ_PARTITION_*`), so one image serves every deployment without editing DAG files.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from mq.errors import ConfigError

DEFAULT_POOL = "metrics_quality_warehouse"
POOL_CHECK_MODES = ("check", "create", "off")


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if raw.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError("environment", name, "expected true or false", raw)


def _number(name: str, default: float, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError("environment", name, "expected a number", raw) from None
    if value < minimum:
        raise ConfigError("environment", name, f"must be >= {minimum}", raw)
    return value


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = (os.environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise ConfigError("environment", name, f"expected one of {', '.join(choices)}", raw)
    return raw


def _date(name: str, default: dt.datetime) -> dt.datetime:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise ConfigError("environment", name, "expected a date as YYYY-MM-DD", raw) from None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def config_path_from_airflow() -> Path:
    """Variable `mq_config`, else $MQ_CONFIG, else the bundled demo config."""
    from mq.cli import DEMO_CONFIG

    path = None
    try:
        from airflow.sdk import Variable

        path = Variable.get("mq_config", default=None)
    except Exception:  # no metadata database or secrets backend reachable while parsing: use the env
        path = None
    return Path(path or os.environ.get("MQ_CONFIG") or DEMO_CONFIG)


@dataclass(frozen=True)
class DagSettings:
    config_path: Path
    dag_prefix: str = "metrics_quality"
    start_date: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    # Off: a new or unpaused DAG runs only the latest interval. History is loaded with
    # `mq backfill` or `airflow backfill create`, which respect max_active_runs and the pool.
    catchup: bool = False
    # One run at a time: detectors score a partition from the stored history before it, so
    # partitions must be processed oldest first (a backfill then runs in date order).
    max_active_runs: int = 1
    pool: str = DEFAULT_POOL             # the Spark tasks (pull, validate) take a slot each
    # The first task checks the pool exists ("check"), creates it if missing ("create"), or not ("off").
    pool_check: str = "check"
    retries: int = 2
    retry_delay: dt.timedelta = dt.timedelta(minutes=2)
    retry_backoff: float = 2.0           # multiplier: 2 min, 4 min, ... up to max_retry_delay
    max_retry_delay: dt.timedelta = dt.timedelta(minutes=30)
    # A partition is due this long after its data interval ends; then it is a freshness alert.
    arrival_deadline: dt.timedelta = dt.timedelta(hours=6)
    poke_interval: float = 300.0
    stage_timeout: dt.timedelta = dt.timedelta(hours=2)
    report_dir: Path | None = None       # SOX reports; default <workdir>/reports/sox
    tags: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_environment(cls) -> "DagSettings":
        report_dir = os.environ.get("MQ_REPORT_DIR")
        return cls(
            config_path=config_path_from_airflow(),
            dag_prefix=os.environ.get("MQ_AIRFLOW_DAG_PREFIX") or cls.dag_prefix,
            start_date=_date("MQ_AIRFLOW_START_DATE", cls.start_date),
            catchup=_bool("MQ_AIRFLOW_CATCHUP", cls.catchup),
            max_active_runs=int(_number("MQ_AIRFLOW_MAX_ACTIVE_RUNS", cls.max_active_runs, 1)),
            pool=os.environ.get("MQ_AIRFLOW_POOL") or cls.pool,
            pool_check=_choice("MQ_AIRFLOW_POOL_CHECK", cls.pool_check, POOL_CHECK_MODES),
            retries=int(_number("MQ_AIRFLOW_RETRIES", cls.retries)),
            retry_delay=dt.timedelta(seconds=_number("MQ_AIRFLOW_RETRY_DELAY_SECONDS",
                                                     cls.retry_delay.total_seconds(), 1)),
            arrival_deadline=dt.timedelta(hours=_number("MQ_PARTITION_DEADLINE_HOURS", 6.0)),
            poke_interval=_number("MQ_PARTITION_POKE_SECONDS", cls.poke_interval, 1),
            report_dir=Path(report_dir) if report_dir else None,
        )
