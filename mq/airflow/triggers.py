"""The trigger behind the partition sensor: it runs in the triggerer and waits without a worker slot.

It fires once: `arrived` as soon as the partition folder holds a data file, or `missing` when the
deadline passes first. Carrying its own deadline (instead of relying on the sensor's timeout) makes a
late partition end the same way under the triggerer, `dag.test()` and `airflow tasks test`.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


def partition_files(folder: str) -> list[str]:
    """Data files under `folder` (hidden and `_`-prefixed marker files excluded), sorted."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        found += [os.path.join(root, f) for f in files if not f.startswith((".", "_"))]
    return sorted(found)


def arrival_event(folder: str, deadline: dt.datetime, now: dt.datetime) -> dict | None:
    """The event to fire now, or None to keep waiting. Pure apart from listing the folder."""
    files = partition_files(folder)
    if files:
        return {"status": "arrived", "folder": folder, "files": len(files)}
    if now >= deadline:
        return {"status": "missing", "folder": folder, "files": 0, "deadline": deadline.isoformat()}
    return None


class PartitionArrivalTrigger(BaseTrigger):
    def __init__(self, folder: str, deadline: str, poke_interval: float = 300.0) -> None:
        super().__init__()
        self.folder = folder
        self.deadline = deadline          # ISO 8601 with offset: triggers are serialized as JSON
        self.poke_interval = float(poke_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__name__}",
                {"folder": self.folder, "deadline": self.deadline, "poke_interval": self.poke_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = dt.datetime.fromisoformat(self.deadline)
        while True:
            # The sensor looked just before deferring: wait one interval before looking again.
            now = dt.datetime.now(dt.timezone.utc)
            await asyncio.sleep(max(0.0, min(self.poke_interval, (deadline - now).total_seconds())))
            now = dt.datetime.now(dt.timezone.utc)
            event = await asyncio.to_thread(arrival_event, self.folder, deadline, now)
            if event is not None:
                yield TriggerEvent(event)
                return
