"""The pull stage as a function: what a pull records and reports, from a given aggregate frame (the
rows the Spark query returns, turned into a pull result by the same code as a real pull), in a metric
store and ledger on an in-memory SQLite. No Spark: `scan` hands the stage those results."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from metricstore import utcnow
from conftest import config_from_yaml
from mq.stages.pull import PullSettings, pull, pull_outcome, recorded_pulls
from pulls.pull import _result as result_of_aggregate
from pulls.sql import MetricColumn

DAY = dt.date(2026, 9, 30)
CONFIG = """
version: 1
dimensions: [platform]
slices: [[], [platform]]
tables:
  client: {path: /data/client}
  warehouse: {path: /data/warehouse}
  unused: {path: /data/unused}
metrics:
  client_events: {table: client, sox: true}
  warehouse_events: {table: warehouse}
"""


@pytest.fixture
def settings(tmp_path) -> PullSettings:
    return PullSettings.from_config(config_from_yaml(tmp_path, CONFIG))


def aggregate(table: str, metric: str, by_platform: dict[str, int] | None, *, files: int = 1):
    """The pull result of `table` for DAY whose query returned these per-platform counts (a total row
    and one row per platform, as the grouping-sets query does); None: the query returned no rows."""
    frame = pd.DataFrame()
    if by_platform is not None:
        rows = [{"platform": None, "__rows": sum(by_platform.values()), "__seen_platform": len(by_platform),
                 f"m_{metric}": sum(by_platform.values())}]
        rows += [{"platform": p, "__rows": n, "__seen_platform": 1, f"m_{metric}": n} for p, n in by_platform.items()]
        frame = pd.DataFrame(rows)
    now = utcnow()
    evidence = {"table_name": table, "partition": DAY, "sql_text": "select ...", "sql_hash": "s" * 64,
                "input_files": [{"file": f"/data/{table}/ds={DAY}/part-{i}.parquet", "rows": 1} for i in range(files)],
                "started_at": now, "finished_at": now, "spark_app_id": "local-1", "error": None}
    return result_of_aggregate(table, DAY, frame, ["platform"], [MetricColumn(metric, "count(*)", None, True)], evidence)


def scans(**by_table):
    """A `scan` returning these tables' results; "no files": the partition has no input files at all."""
    results = {t: aggregate(t, f"{t}_events", None, files=0) if counts == "no files"
               else aggregate(t, f"{t}_events", counts) for t, counts in by_table.items()}
    return lambda table, day: results[table]


def test_settings_pull_only_tables_with_metrics(settings):
    assert settings.tables == ("client", "warehouse")
    assert settings.controls == {"client": ("pull:client",), "warehouse": ()}


def test_a_pull_stores_its_points_and_one_ledger_record(settings, stores):
    store, ledger = stores
    scan = scans(client={"ios": 40, "android": 60}, warehouse={"ios": 41, "android": 62})
    out = pull(settings, store, ledger, DAY, "r1", scan=scan)
    assert [(p["table"], p["status"], p["row_count"], p["version"], p["changed"]) for p in out] == \
        [("client", "ok", 100, 1, True), ("warehouse", "ok", 103, 1, True)]
    pts = store.points(["client_events"], DAY, DAY)
    assert dict(zip(pts.slice_key, pts.value)) == {"(total)": 100.0, "platform=ios": 40.0, "platform=android": 60.0}
    records = ledger.records(kind="pull")
    assert [r.key for r in records] == [f"pull:client:{DAY}:v1", f"pull:warehouse:{DAY}:v1"]
    assert records[0].payload["controls"] == ["pull:client"]

    again = pull(settings, store, ledger, DAY, "r2", scan=scan)   # an identical re-run
    assert [(p["version"], p["changed"]) for p in again] == [(1, False), (1, False)]
    assert len(ledger.records(kind="pull")) == 2
    assert recorded_pulls(settings, store, DAY) == [{**p, "changed": False} for p in out]


@pytest.mark.parametrize("counts", [None, "no files"])
def test_a_missing_partition_is_reported_missing_not_zero(settings, stores, counts):
    store, ledger = stores
    scan = scans(client=counts, warehouse={"ios": 41})
    client, _ = pull(settings, store, ledger, DAY, scan=scan)
    assert (client["status"], client["row_count"]) == ("missing", 0)
    assert store.points(["client_events"], DAY, DAY).empty        # no zeros a detector would read as a drop
    assert store.latest_pull("client", DAY)["status"] == "missing"
    assert ledger.records(kind="pull")[0].payload["status"] == "missing"


def test_late_rows_make_a_new_version_and_say_so(settings, stores):
    store, ledger = stores
    pull(settings, store, ledger, DAY, scan=scans(client={"ios": 40}, warehouse={"ios": 41}))
    client, warehouse = pull(settings, store, ledger, DAY,
                             scan=scans(client={"ios": 40, "android": 55}, warehouse={"ios": 41}))
    assert (client["version"], client["changed"], client["row_count"]) == (2, True, 95)
    assert client["late"] == {"previous_version": 1, "previous_rows": 40}
    assert "late" not in warehouse and not warehouse["changed"]
    assert [r.key for r in ledger.records(kind="pull")][-1] == f"pull:client:{DAY}:v2"


def test_a_missing_partition_that_arrives_is_late(settings, stores):
    store, ledger = stores
    pull(settings, store, ledger, DAY, scan=scans(client=None, warehouse={"ios": 41}))
    client, _ = pull(settings, store, ledger, DAY, scan=scans(client={"ios": 40}, warehouse={"ios": 41}))
    assert (client["status"], client["version"], client["late"]) == \
        ("ok", 2, {"previous_version": 1, "previous_rows": 0})


def test_an_unchanged_pull_means_no_ledger_entry():
    result = aggregate("client", "client_events", {"ios": 40})
    found = pull_outcome(result, {"row_count": 40, "version": 3}, 3, False)
    assert found.entry is None and found.outcome["version"] == 3 and "late" not in found.outcome
