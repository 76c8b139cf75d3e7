"""Which partition a DAG run owns.

The daily DAG uses a data-interval timetable: the run for the interval [D 00:00, D+1 00:00) UTC owns
partition D (scheduled and backfill runs have logical_date D). A manual run gets the last complete
interval before it was triggered (Airflow 3 infers it from `run_after`, whatever logical date was
given), so "trigger now" processes yesterday; to (re)run a given partition, trigger with conf
`{"partition": "YYYY-MM-DD"}`. `dag.test(logical_date=T)` infers the interval from T instead:
`logical_date_for(D)` is the T whose interval is partition D.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from mq.errors import MqError


def partition_of(context: Mapping) -> dt.date:
    """The partition of the running task: the `partition` param, else the data interval's start date."""
    params = context.get("params") or {}
    chosen = params.get("partition") if hasattr(params, "get") else None
    if chosen:
        try:
            return dt.date.fromisoformat(str(chosen))
        except ValueError:
            raise MqError(f"DAG param partition: expected YYYY-MM-DD, got {chosen!r}") from None
    start = context.get("data_interval_start") or context.get("logical_date")
    if start is None:
        raise MqError("this DAG run has neither a data interval nor a logical date; trigger it with a "
                      "logical date or with conf {\"partition\": \"YYYY-MM-DD\"}")
    return _utc(start).date()


def interval_end_of(context: Mapping, partition: dt.date) -> dt.datetime:
    """When the partition's data interval ends (the deadline counts from here)."""
    end = context.get("data_interval_end")
    if end is not None and not (context.get("params") or {}).get("partition"):
        return _utc(end)
    return dt.datetime.combine(partition + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)


def logical_date_for(partition: dt.date) -> dt.datetime:
    """The logical date of a manual run (or `dag.test`) whose data interval is `partition`'s day."""
    return dt.datetime.combine(partition + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)


def _utc(value) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    # A plain datetime: pendulum's astimezone() can drop the zone, and naive vs aware never compares.
    return dt.datetime.fromtimestamp(value.timestamp(), tz=dt.timezone.utc)
