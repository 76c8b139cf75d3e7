"""The detect stage as a function: settings from the config, the metric store and ledger it reads (an
in-memory SQLite), its verdicts and ledger entries returned as data, written only by the orchestrator.
No Spark."""
from __future__ import annotations

import datetime as dt
import textwrap

import numpy as np
import pandas as pd
import pytest

from conftest import config_from_yaml
from mq.config import load_config
from mq.stages.detect import DetectSettings, Detections, detect, past_flags, write_detections

DAY = dt.date(2026, 9, 30)
HISTORY = 42
CONFIG = """
version: 1
dimensions: [platform]
slices: [[], [platform]]
tables:
  client: {path: /data/client, owner: apps}
  warehouse: {path: /data/warehouse}
metrics:
  client_events: {table: client, detectors: [{name: seasonal_mad}], sox: true}
  warehouse_events: {table: warehouse, detectors: [{name: seasonal_mad}]}
pairs:
  client_vs_warehouse: {client: client_events, warehouse: warehouse_events}
"""


@pytest.fixture
def settings(tmp_path) -> DetectSettings:
    return DetectSettings.from_config(config_from_yaml(tmp_path, CONFIG))


def volumes(day: dt.date, rng) -> dict[str, float]:
    weekly = 1.0 + 0.2 * (day.weekday() >= 5)
    return {"ios": float(rng.poisson(6_000 * weekly)), "android": float(rng.poisson(9_000 * weekly))}


def pull(store, table: str, metric: str, day: dt.date, by_platform: dict[str, float] | None) -> None:
    """One stored pull of `table` for `day` with its total and per-platform points (None: missing)."""
    evidence = {"table_name": table, "partition": day, "status": "ok" if by_platform else "missing",
                "row_count": int(sum(by_platform.values())) if by_platform else 0,
                "content_hash": f"{table}:{day}:{sorted((by_platform or {}).items())}", "input_files": []}
    points = None
    if by_platform:
        rows = [{"metric": metric, "slice_key": "__total__", "grouping": "", "labels": {},
                 "value": sum(by_platform.values())}]
        rows += [{"metric": metric, "slice_key": f"platform={p}", "grouping": "platform",
                  "labels": {"platform": p}, "value": v} for p, v in by_platform.items()]
        points = pd.DataFrame(rows)
    store.record_pull(evidence, points)


def load_history(store, *, android_loss_on_day: float = 0.0, missing: dt.date | None = None) -> None:
    """Six weeks of warehouse counts and client counts (~97% of them); on DAY the android client loses a share."""
    rng = np.random.default_rng(5)
    for k in range(HISTORY, -1, -1):
        day = DAY - dt.timedelta(days=k)
        warehouse = volumes(day, rng)
        client = {p: float(rng.binomial(int(v), 0.97)) for p, v in warehouse.items()}
        if day == DAY:
            client["android"] = round(client["android"] * (1 - android_loss_on_day))
        pull(store, "warehouse", "warehouse_events", day, warehouse)
        pull(store, "client", "client_events", day, None if day == missing else client)


def stored(store, ledger) -> tuple[int, int]:
    return len(store.detections()), len(ledger.records())


def test_settings_hold_the_config_part_the_stage_reads(settings):
    assert [s.name for s in settings.subjects] == ["client_events", "warehouse_events", "client_vs_warehouse"]
    pair = settings.subject("client_vs_warehouse")
    assert (pair.metric, pair.warehouse, pair.tables) == ("client_events", "warehouse_events",
                                                          frozenset({"client", "warehouse"}))
    assert [d.name for d in pair.detectors] == ["ratio_binomial"]   # a pair's default detector
    assert settings.subject("client_events").controls == ("detect:client_events",)   # sox: true
    assert settings.subject("warehouse_events").controls == ()
    assert settings.groupings["client_events"] == ("", "platform")
    with pytest.raises(KeyError, match="unknown subject 'nope'"):
        settings.subject("nope")


def test_a_client_loss_is_found_and_returned_without_writing_anything(settings, stores):
    store, ledger = stores
    load_history(store, android_loss_on_day=0.10)
    found = detect(settings, store, ledger, DAY, run_id="r1")
    assert isinstance(found, Detections)
    assert stored(store, ledger) == (0, 0)      # the stage writes nothing
    pair = {r["slice_key"]: r for r in found.rows["client_vs_warehouse"]}
    assert pair["platform=android"]["status"] == "anomaly" and pair["platform=ios"]["status"] != "anomaly"
    assert pair["platform=android"]["labels"] == {"platform": "android"}
    assert {r["run_id"] for r in found.rows["client_vs_warehouse"]} == {"r1"}
    assert found.summary["client_vs_warehouse"]["anomalies"] >= 1
    entries = {e.payload["subject"]: e for e in found.ledger if e.kind == "detector"}
    assert set(entries) == {"client_events", "warehouse_events", "client_vs_warehouse"}
    assert "platform=android" in entries["client_vs_warehouse"].payload["anomalies"]
    assert entries["client_events"].payload["controls"] == ["detect:client_events"]
    assert all(e.partition == DAY and e.key.startswith(f"detect:{e.payload['subject']}:{DAY}:")
               for e in entries.values())


def test_a_quiet_day_has_no_anomaly(settings, stores):
    store, ledger = stores
    load_history(store)
    found = detect(settings, store, ledger, DAY)
    statuses = {r["status"] for rows in found.rows.values() for r in rows}
    assert "anomaly" not in statuses and "ok" in statuses
    assert all(e.payload["anomalies"] == [] for e in found.ledger if e.kind == "detector")


def test_writing_the_results_twice_stores_them_once(settings, stores):
    store, ledger = stores
    load_history(store, android_loss_on_day=0.10)
    write_detections(store, ledger, DAY, detect(settings, store, ledger, DAY))
    once = stored(store, ledger)
    assert once[0] > 0 and once[1] == 3
    write_detections(store, ledger, DAY, detect(settings, store, ledger, DAY))   # a re-run of the day
    assert stored(store, ledger) == once
    assert ledger.verify().ok


def test_stored_flags_and_missing_days_stay_out_of_the_baseline(settings, stores):
    store, ledger = stores
    gap = DAY - dt.timedelta(days=9)
    load_history(store, missing=gap)
    yesterday = DAY - dt.timedelta(days=1)
    store.save_detections("client_vs_warehouse", yesterday, [
        {"slice_key": "platform=ios", "detector": "ratio_binomial", "labels": {"platform": "ios"},
         "status": "anomaly"}])
    pair = settings.subject("client_vs_warehouse")
    flags = past_flags(settings, store, ledger, pair, pd.DataFrame({"slice_key": [], "labels": []}), DAY)
    assert flags["flagged"].values.tolist() == [["platform=ios", yesterday]]
    assert flags["excluded_days"] == [gap]
    # The warehouse metric's own baseline does not read the client table's missing day.
    warehouse = past_flags(settings, store, ledger, settings.subject("warehouse_events"),
                           pd.DataFrame({"slice_key": [], "labels": []}), DAY)
    assert warehouse["excluded_days"] == []


def test_a_slow_drift_is_stored_with_its_onset_level_and_slope_and_its_alert_says_where_it_heads(tmp_path, stores):
    # The android capture falls 0.5% a day over the last five days: 2.5% down, under the 3% minimum
    # effect, but 6% at this rate a week on, so the drift chart's finding is an anomaly; the stored
    # detection carries the evidence the alert text is made of.
    path = tmp_path / "mq.yml"
    path.write_text(textwrap.dedent(CONFIG).replace(
        "client_vs_warehouse: {client: client_events, warehouse: warehouse_events}",
        "client_vs_warehouse: {client: client_events, warehouse: warehouse_events, "
        "detectors: [{name: ratio_drift}]}") + "alerting:\n  min_relative_effect: 0.03\n  history_days: 97\n")
    config = load_config(path)
    store, ledger = stores
    rng = np.random.default_rng(8)
    for k in range(HISTORY + 14, -1, -1):
        day = DAY - dt.timedelta(days=k)
        warehouse = volumes(day, rng)
        capture = {p: 0.97 * (1 - 0.005 * max(0, 5 - k)) for p in warehouse}
        capture["ios"] = 0.97
        pull(store, "warehouse", "warehouse_events", day, warehouse)
        pull(store, "client", "client_events", day, {p: float(rng.binomial(int(v), capture[p]))
                                                     for p, v in warehouse.items()})
    write_detections(store, ledger, DAY, detect(DetectSettings.from_config(config), store, ledger, DAY))
    rows = store.detections("client_vs_warehouse", DAY, DAY).set_index("slice_key")
    android = rows.loc["platform=android"]
    assert android.status == "anomaly" and rows.loc["platform=ios"].status != "anomaly"
    drift = android.drift
    assert abs(drift["level"]) < 0.03 and drift["slope"] < 0 and drift["cumulative_effect"] < 0
    assert dt.date.fromisoformat(drift["start"]) >= DAY - dt.timedelta(days=8)
    from mq.stages.alert import drift_note
    note = drift_note(drift, DAY, config.alerting.min_relative_effect, config.alerting.drift_horizon_days)
    assert note.startswith(f"; falling ~") and f"since {drift['start']}" in note
    assert f"at this rate by {DAY + dt.timedelta(days=7)}" in note and "under the 3% minimum effect" in note
    entry = next(e for e in ledger.records("detector") if e.payload["subject"] == "client_vs_warehouse")
    assert {"slice_key": "platform=android", "detector": "ratio_drift", **drift} in entry.payload["drifts"]
