"""Wait for a table's partition until its deadline; a partition that never lands is skipped, not failed.

Skipped is the signal: the pull still runs (trigger rule `none_failed`), records the partition as
`missing`, and the alert stage turns that into a freshness alert. A real error (unreadable config,
unknown table) fails the task as usual.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowSkipException

from mq.airflow.partition import interval_end_of, partition_of
from mq.airflow.triggers import PartitionArrivalTrigger, arrival_event
from mq.config import Config, load_config
from mq.errors import ConfigError


def partition_folder(config: Config, table: str, partition: dt.date) -> Path:
    """The Hive-style folder of one partition of a file-backed table."""
    spec = config.tables[table]
    if not spec.path or "://" in spec.path:
        raise ConfigError(config.source_path, f"tables.{table}.path",
                          "only local file tables can be watched for arrival", spec.path or spec.table)
    return config.resolve(spec.path) / f"{spec.partition_column}={partition.isoformat()}"


def watchable(config: Config, table: str) -> bool:
    spec = config.tables[table]
    return bool(spec.path) and "://" not in spec.path


class PartitionSensor(BaseSensorOperator):
    """Deferrable: waits in the triggerer, so a late partition holds no worker slot."""

    template_fields = ("config_path", "table")
    ui_color = "#e8f0d8"

    def __init__(self, *, config_path: str, table: str, arrival_deadline: dt.timedelta,
                 deferrable: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.config_path, self.table = str(config_path), table
        self.arrival_deadline = arrival_deadline
        self.deferrable = deferrable

    def _where(self, context) -> tuple[dt.date, str, dt.datetime]:
        partition = partition_of(context)
        config = load_config(self.config_path)
        folder = str(partition_folder(config, self.table, partition))
        deadline = interval_end_of(context, partition) + self.arrival_deadline
        return partition, folder, deadline

    def poke(self, context) -> bool:
        _, folder, deadline = self._where(context)
        event = arrival_event(folder, deadline, dt.datetime.now(dt.timezone.utc))
        return self._finish(event) if event else False

    def execute(self, context):
        if not self.deferrable:
            return super().execute(context)
        partition, folder, deadline = self._where(context)
        event = arrival_event(folder, deadline, dt.datetime.now(dt.timezone.utc))
        if event is not None:
            return self._finish(event)
        self.log.info("waiting for partition %s of %s until %s", partition, self.table, deadline.isoformat())
        self.defer(trigger=PartitionArrivalTrigger(folder, deadline.isoformat(), self.poke_interval),
                   method_name="execute_complete")

    def execute_complete(self, context, event: dict | None = None):
        return self._finish(event or {"status": "missing", "folder": "?", "files": 0})

    def _finish(self, event: dict):
        if event["status"] == "missing":
            raise AirflowSkipException(
                f"partition folder {event['folder']} of table {self.table} did not arrive by its deadline "
                f"{event.get('deadline', '')}: the pull records it missing and the alert stage raises a "
                "freshness alert")
        self.log.info("partition of %s arrived: %s data files in %s", self.table, event["files"], event["folder"])
        return True


class PeriodCompleteSensor(BaseSensorOperator):
    """Done when every partition of the run's closed period has a successful run in the store, or once
    `grace` has passed since the period ended (the report then shows the gaps)."""

    template_fields = ("config_path",)

    def __init__(self, *, config_path: str, grace: dt.timedelta, **kwargs) -> None:
        super().__init__(**kwargs)
        self.config_path, self.grace = str(config_path), grace

    def poke(self, context) -> bool:
        from mq.airflow.audit import period_of, period_status

        first, last, end = period_of(context)
        status = period_status(self.config_path, first, last)
        late = dt.datetime.now(dt.timezone.utc) >= end + self.grace
        self.log.info("period %s..%s: %s of %s partitions ran%s", first, last, status["complete_days"],
                      status["days"], " (grace period over)" if late and not status["complete"] else "")
        return status["complete"] or late
