"""One bad partition never stops the run: an empty, missing, corrupt or undecodable partition becomes
an alert on that partition and the backfill goes on with the rest (SQLite and PostgreSQL stores)."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mq.config import load_config
from mq.pipeline import Pipeline

DAYS = [dt.date(2026, 9, 1) + dt.timedelta(days=i) for i in range(6)]
GOOD, CORRUPT, EMPTY, NOT_UTF8, MISSING, GOOD_AGAIN = DAYS


def _write(folder, platforms) -> None:
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"platform": pa.array(platforms, pa.string()),
                             "n": pa.array(range(len(platforms)), pa.int64())}), folder / "part-0.parquet")


@pytest.fixture(scope="module")
def bad_warehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad") / "events"
    _write(root / f"ds={GOOD}", ["android", "ios"] * 20)
    _write(root / f"ds={CORRUPT}", ["android"])
    (root / f"ds={CORRUPT}" / "part-0.parquet").write_bytes(b"PAR1 truncated by a failed upload PAR1")
    _write(root / f"ds={EMPTY}", [])
    (root / f"ds={NOT_UTF8}").mkdir()
    text = b"ios" + b"and\xffroid"     # one byte that is not UTF-8, written past Arrow's validation
    offsets = pa.array([0, 3, 11], pa.int32()).buffers()[1]
    platform = pa.Array.from_buffers(pa.string(), 2, [None, offsets, pa.py_buffer(text)])
    pq.write_table(pa.table({"platform": platform, "n": pa.array([1, 2], pa.int64())}),
                   root / f"ds={NOT_UTF8}" / "part-0.parquet")
    _write(root / f"ds={GOOD_AGAIN}", ["android", "ios"] * 20)     # MISSING has no folder at all
    return root


def test_a_backfill_over_bad_partitions_alerts_on_each_and_goes_on(spark, bad_warehouse, tmp_path, migrated_store_url):
    cfg = tmp_path / "mq.yml"
    cfg.write_text(f"""
workdir: {tmp_path}
dimensions: [platform]
slices: [[], [platform]]
tables:
  events: {{path: {bad_warehouse}}}
metrics:
  events: {{table: events, detectors: [{{name: seasonal_mad}}]}}
""")
    pipe = Pipeline(load_config(cfg), spark=spark, state_url=migrated_store_url)
    runs = {r["partition"]: r for r in pipe.backfill(DAYS[0], DAYS[-1])}

    # unreadable input makes a run partial; missing input stays a freshness alert of a successful run
    assert [runs[d.isoformat()]["status"] for d in DAYS] == [
        "success", "partial", "success", "partial", "success", "success"]
    failed = {d: runs[d.isoformat()]["failed_inputs"][0] for d in (CORRUPT, EMPTY, NOT_UTF8, MISSING)}
    assert all("\n" not in line for line in failed.values())
    assert f"ds={CORRUPT}/part-0.parquet: unreadable parquet file" in failed[CORRUPT]
    assert "1 file but no rows" in failed[EMPTY]
    assert f"ds={NOT_UTF8}/part-0.parquet: text that is not valid UTF-8 in column platform (1 row)" \
        in failed[NOT_UTF8]
    assert failed[MISSING] == f"events {MISSING}: missing"
    # the good partitions were pulled as usual, before and after the bad ones
    points = pipe.store.points(["events"], DAYS[0], DAYS[-1])
    assert sorted(points[points.slice_key == "(total)"].partition) == [GOOD, GOOD_AGAIN]

    alerts = {(a["kind"], a["first_partition"]): a for a in pipe.alerts.alerts()}
    assert alerts[("expectation", CORRUPT)]["message"].startswith(
        f"partition {CORRUPT} of events could not be read: ")
    assert "part-0.parquet" in alerts[("expectation", CORRUPT)]["message"]
    assert "not valid UTF-8" in alerts[("expectation", NOT_UTF8)]["message"]
    assert alerts[("freshness", EMPTY)]["message"].endswith("is missing or empty (1 file but no rows)")
    runs_table = pipe.store.runs()
    assert sorted(runs_table.status) == sorted(["success", "partial", "success", "partial", "success", "success"])
