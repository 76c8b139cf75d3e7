"""The capture rates the store holds, per monitored slice and day, as one table: what `mq capture` prints.

Per slice and partition: the client and warehouse counts and capture = client / warehouse; with a
user column (`pairs.<name>.user_column`), the warehouse's distinct users, those the client missed and
the user capture; with a completeness curve on the client table, the share of the final client count
that had arrived by the end of each D+k; and whether the sizing report counts the day as steady state
(`reason`: why not). Every figure is read back from the metric store (latest version of each point).
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

from sizing.data import SizingSettings, read_counts
from sizing.lateness import read_arrivals
from sizing.users import read_user_days

BASE_COLUMNS = ["partition", "slice_key", "client", "warehouse", "capture"]


def capture_table(settings: SizingSettings, store, start: dt.date, end: dt.date,
                  slice_key: str | None = None) -> pd.DataFrame:
    """One row per monitored slice and day in [start, end] (only `slice_key`'s, if given)."""
    counts = read_counts(settings, store, start, end)
    rows = counts.slices.assign(capture=counts.slices.client / counts.slices.warehouse.where(counts.slices.warehouse > 0))
    users = read_user_days(counts, store)
    if len(users):
        rows = rows.merge(users[["partition", "slice_key", "warehouse_users", "missed_users", "user_capture"]],
                          on=["partition", "slice_key"], how="left")
    arrivals = read_arrivals(counts, store)
    lags = [f"d{k}" for k in settings.arrival_lags]
    if len(arrivals):
        rows = rows.merge(arrivals[["partition", "slice_key", *lags]], on=["partition", "slice_key"], how="left")
        for lag in lags:   # the share of the final client count arrived by the end of D+k
            rows[f"completeness_{lag}"] = rows[lag] / rows.client.where(rows.client > 0)
    extra = [c for c in ("warehouse_users", "missed_users", "user_capture") if c in rows]
    extra += [f"completeness_{lag}" for lag in lags if f"completeness_{lag}" in rows]
    out = rows[[*BASE_COLUMNS, *extra, "excluded", "reason"]]
    if slice_key is not None:
        out = out[out.slice_key == slice_key]
    return out.sort_values(["partition", "slice_key"]).reset_index(drop=True)
