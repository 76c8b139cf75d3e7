"""What the status page shows, from the config and a metric store on an in-memory SQLite (no Spark):
the certification grid of a period, newest run, and a pair's ratio history with its incident days."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from alerting.schema import alerts as alert_table
from conftest import PAIR_CONFIG, config_from_yaml
from incidents import incident_id
from status.views import grid, history, latest_partition

DAY = dt.date(2026, 9, 30)
CONFIG = """
version: 1
""" + PAIR_CONFIG


@pytest.fixture
def config(tmp_path):
    return config_from_yaml(tmp_path, CONFIG)


@pytest.fixture
def store(stores):
    return stores[0]


def pulled(store, table: str, metric: str, day: dt.date, total: float) -> None:
    store.record_pull({"table_name": table, "partition": day, "status": "ok", "row_count": int(total),
                       "content_hash": f"{table}:{day}:{total}", "input_files": [],
                       "finished_at": dt.datetime.combine(day + dt.timedelta(days=2), dt.time(),
                                                          dt.timezone.utc)},
                      pd.DataFrame([{"metric": metric, "slice_key": "__total__", "grouping": "", "labels": {},
                                     "value": total}]))
    store.save_detections(metric, day, [{"slice_key": "__total__", "detector": "seasonal_mad", "labels": {},
                                         "status": "ok"}])


def alerted(store, day: dt.date) -> None:
    at = dt.datetime.combine(day, dt.time(6), dt.timezone.utc)
    with store.engine.begin() as conn:
        conn.execute(alert_table.insert().values(
            id=f"pair-{day}", fingerprint="f" * 32, kind="discrepancy", subject="client_vs_warehouse", labels={},
            severity="critical", status="firing", first_partition=day, last_partition=day, first_fired_at=at,
            last_fired_at=at, message="...", thread_key="t|1", receiver="local"))


def test_grid_history_and_latest_partition_from_the_store(config, store):
    assert latest_partition(store) is None
    for back in (2, 1, 0):
        day = DAY - dt.timedelta(days=back)
        pulled(store, "client", "client_events", day, 900.0)
        pulled(store, "warehouse", "warehouse_events", day, 1000.0)
        store.save_detections("client_vs_warehouse", day, [{"slice_key": "__total__", "detector": "ratio_binomial",
                                                             "labels": {}, "status": "ok"}])
    alerted(store, DAY - dt.timedelta(days=1))
    store.finish_run(store.start_run(DAY, "cli", "h"), "success", {})

    shown = grid(config, store, DAY, days=4)
    assert shown["days"] == [DAY - dt.timedelta(days=k) for k in (3, 2, 1, 0)]
    assert [s.status for s in shown["rows"]["client_vs_warehouse"]] == ["provisional", "certified", "failed",
                                                                        "certified"]
    assert [s.status for s in shown["rows"]["client_events"]] == ["provisional", "certified", "certified",
                                                                  "certified"]
    series, marked = history(config, store, "client_vs_warehouse", DAY, days=4)
    assert series == [(DAY - dt.timedelta(days=3), None)] + [(DAY - dt.timedelta(days=k), 0.9) for k in (2, 1, 0)]
    assert marked == {DAY - dt.timedelta(days=1): incident_id("t|1")}
    assert latest_partition(store) == DAY
