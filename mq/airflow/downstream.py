"""An example consumer of certified data: a DAG scheduled on one metric's certification Asset.

It runs when the daily DAG certifies a partition of the metric, and never for a provisional or failed
one (that run's `certified.<metric>` task is skipped, and a skipped task updates no Asset). Its task
reads which partition was certified from the triggering events; a real consumer would refresh a
report or a training set for exactly that partition.
"""
from __future__ import annotations

import os

from airflow.sdk import DAG, get_current_context, task

from mq.airflow import docs
from mq.airflow.assets import certified_asset
from mq.airflow.factory import default_args
from mq.airflow.settings import DagSettings
from mq.config import Config, load_config


def certified_partitions(triggering_asset_events) -> list[str]:
    """The partitions named by the certification events that triggered this run, oldest first."""
    found = {e.extra.get("partition") for events in triggering_asset_events.values() for e in events}
    return sorted(p for p in found if p)


def build_certified_example_dag(settings: DagSettings | None = None, config: Config | None = None,
                                subject: str | None = None) -> DAG:
    settings = settings or DagSettings.from_environment()
    config = config or load_config(settings.config_path)
    subject = subject or os.environ.get("MQ_EXAMPLE_METRIC") or next(iter(config.metrics))
    asset = certified_asset(subject, settings.dag_prefix)
    with DAG(
        dag_id=f"{settings.dag_prefix}_certified_example",
        description=f"example: runs on each certified partition of {subject}",
        schedule=[asset],
        start_date=settings.start_date,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(config, settings),
        tags=docs.tags(config, "example", "certified"),
        doc_md=(f"Runs when a partition of `{subject}` is certified by the daily DAG of "
                f"`{settings.config_path}` (Asset `{asset.name}`); never on provisional or failed data."),
    ) as dag:

        @task(task_id="use_certified_partition")
        def use_certified_partition() -> list[str]:
            """Where a report refresh or a training-set build would read the certified partitions."""
            return certified_partitions(get_current_context()["triggering_asset_events"])

        use_certified_partition()
    return dag
