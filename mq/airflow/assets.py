"""Airflow Assets of certified data: one per metric (and pair). The daily DAG's `certified.<metric>`
task emits an event on its Asset when the run's partition is certified, and is skipped otherwise
(a skipped task updates no asset), so a DAG scheduled on the Asset runs on certified data only.

The event's `extra` names the partition: `{"partition": "2026-09-17", "subject": "client_events"}`.
"""
from __future__ import annotations

from airflow.sdk import Asset


def certified_asset(subject: str, prefix: str = "metrics_quality") -> Asset:
    return Asset(name=f"{prefix}_certified_{subject}", uri=f"mq://{prefix}/certified/{subject}",
                 group="metrics-quality")
