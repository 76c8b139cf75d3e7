"""The control registry and its versioned definitions in the ledger."""
from __future__ import annotations

import pytest

from controls import build_registry, change_log, sync_controls
from mq.config import load_config
from mq.pipeline import Pipeline
from test_controls_exceptions import PAIR, controls_of, make_pipeline


@pytest.fixture
def pipe(tmp_path, sqlite_url):
    return make_pipeline(tmp_path, sqlite_url)


def test_every_sox_pull_suite_reconciliation_and_detector_is_a_control(pipe):
    controls = {c.id: c for c in build_registry(pipe.config)}
    assert sorted(controls) == sorted([
        "schedule:daily", "pull:client_events", "pull:warehouse_events", "suite:client_events",
        "suite:warehouse_events", f"reconcile:{PAIR}", "detect:client_events", "detect:warehouse_events",
        f"detect:{PAIR}"])   # web_sessions is not sox: no control
    # the ids are the ones the pipeline writes into its ledger payloads
    for table in ("client_events", "warehouse_events"):
        assert set(pipe.controls_for_table(table)) <= set(controls)
    for subject in ("client_events", PAIR):
        assert set(pipe.controls_for_subject(subject)) <= set(controls)
    assert controls["pull:warehouse_events"].owner == "data-engineering"
    assert controls[f"reconcile:{PAIR}"].precision["row_ratio_band"] == [0.85, 1.0]
    assert controls[f"detect:{PAIR}"].precision["fdr_q"] == 0.05
    assert controls["detect:client_events"].precision["detectors"][0]["params"]["window_weeks"] == 6
    suite = controls["suite:client_events"].precision
    assert len(suite["suite_hash"]) == 64 and any("expect_column_values_to_be_unique" in e
                                                  for e in suite["expectations"])
    assert all(c.frequency == "daily" and c.objective and c.exception_rule for c in controls.values())


def test_sync_records_each_definition_once(pipe):
    first = sync_controls(*controls_of(pipe), git_commit="abc123")
    assert len(first) == 9 and {c.change for c in first} == {"added"}
    assert first[0].record.payload["git_commit"] == "abc123"
    assert sync_controls(*controls_of(pipe)) == []
    assert len(change_log(pipe.ledger)) == 9


def test_a_changed_band_is_a_new_version_with_what_changed(tmp_path, sqlite_url, pipe):
    sync_controls(*controls_of(pipe))
    tighter = make_pipeline(tmp_path, sqlite_url, low=0.9)
    changes = sync_controls(*controls_of(tighter))
    assert [(c.control_id, c.change, c.version) for c in changes] == [(f"reconcile:{PAIR}", "changed", 2)]
    fields = {f["field"]: f for f in changes[0].fields}
    assert fields["precision.row_ratio_band"]["before"] == [0.85, 1.0]
    assert fields["precision.row_ratio_band"]["after"] == [0.9, 1.0]
    assert changes[0].previous_hash != changes[0].definition_hash
    # changing back is recorded too (version 3), not mistaken for the first version
    back = sync_controls(*controls_of(make_pipeline(tmp_path, sqlite_url, low=0.85)))
    assert [(c.change, c.version) for c in back] == [("changed", 3)]
    assert pipe.ledger.verify().ok


def test_a_control_that_leaves_the_registry_is_retired_and_can_come_back(tmp_path, sqlite_url, pipe):
    sync_controls(*controls_of(pipe))
    path = tmp_path / "mq-0.85.yml"
    path.write_text(path.read_text().replace("    row_ratio_band: [0.85, 1.0]\n", ""))
    without = Pipeline(load_config(path), state_url=sqlite_url)
    retired = sync_controls(*controls_of(without))
    assert [(c.control_id, c.change) for c in retired] == [(f"reconcile:{PAIR}", "retired")]
    assert sync_controls(*controls_of(without)) == []
    back = sync_controls(*controls_of(pipe))
    assert [(c.control_id, c.change, c.version) for c in back] == [(f"reconcile:{PAIR}", "added", 3)]


def test_a_pull_that_starts_reading_arrival_times_or_folding_rare_values_is_a_new_version(tmp_path, sqlite_url,
                                                                                           pipe):
    # Both change the pull's SQL or the slices it stores: an auditor comparing periods must see it.
    sync_controls(*controls_of(pipe))
    text = (tmp_path / "mq-0.85.yml").read_text().replace(
        "owner: client-platform}", "owner: client-platform, min_slice_rows: 50, "
                                   "completeness_curve: {column: received_at, lags_days: [0, 1, 7]}}")
    path = tmp_path / "mq-curve.yml"
    path.write_text(text)
    changes = sync_controls(*controls_of(Pipeline(load_config(path), state_url=sqlite_url)))
    assert [(c.control_id, c.change, c.version) for c in changes] == [("pull:client_events", "changed", 2)]
    fields = {f["field"]: f for f in changes[0].fields}
    assert fields["precision.completeness_curve"]["after"] == {"column": "received_at", "lags_days": [0, 1, 7]}
    assert fields["precision.min_slice_rows"]["after"] == 50
