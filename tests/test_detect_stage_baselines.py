"""The detect stage keeps stored flags out of baselines: the daily run sees what the backfill saw."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from detectors import DetectorSpec, evaluate
from mq.pipeline import Pipeline
from mq.stages.detect import DetectSettings, past_flags, score

PAIR = "client_vs_warehouse_events"
DAY = dt.date(2026, 9, 30)


def pair_history(days: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for key, labels, volume in (("__total__", {}, 40_000), ("platform=ios", {"platform": "ios"}, 15_000)):
        for k in range(days):
            n = int(rng.poisson(volume))
            rows.append({"slice_key": key, "labels": labels, "partition": DAY - dt.timedelta(days=days - 1 - k),
                         "value": float(rng.binomial(n, 0.95)), "denominator": float(n)})
    return pd.DataFrame(rows)


def test_stored_anomalies_failed_checks_and_missing_partitions_are_kept_out_of_the_baseline(demo_config, tmp_path):
    pipe = Pipeline(demo_config, state_url=f"sqlite:///{tmp_path / 'flags.db'}")
    hist = pair_history()
    hist.loc[(hist.slice_key == "platform=ios") & (hist.partition == DAY - dt.timedelta(days=3)), "value"] *= 0.8
    pipe.store.save_detections(PAIR, DAY - dt.timedelta(days=3), [{
        "slice_key": "platform=ios", "detector": "ratio_binomial", "labels": {"platform": "ios"},
        "status": "anomaly"}])
    pipe.store.record_check(suite="client_events", table="client_events", partition=DAY - dt.timedelta(days=6),
                            suite_hash="s", result_hash="r", success=False, result={}, run_id="r1")
    pipe.store.record_pull({"table_name": "warehouse_events", "partition": DAY - dt.timedelta(days=8),
                            "status": "missing", "content_hash": "none", "input_files": []}, None)

    settings = DetectSettings.from_config(demo_config)
    flags = past_flags(settings, pipe.store, pipe.ledger, settings.subject(PAIR), hist, DAY)
    assert flags["flagged"].values.tolist() == [["platform=ios", DAY - dt.timedelta(days=3)]]
    assert flags["excluded_days"] == [DAY - dt.timedelta(days=8), DAY - dt.timedelta(days=6)]
    assert flags["parents"] == {"platform=ios": ["__total__"]}

    refs = demo_config.pairs[PAIR].detectors
    staged = score(settings, hist, DAY, refs, baseline=flags).set_index(["series_id", "detector"])
    # The same day scored from a history without those days: identical baselines.
    dropped = {DAY - dt.timedelta(days=d) for d in (3, 6, 8)}
    clean = hist[~hist.partition.isin(dropped)].rename(columns={"slice_key": "series_id"})
    specs = [DetectorSpec(r.name, dict(r.params)) for r in refs]
    alone = evaluate(clean[["series_id", "partition", "value", "denominator"]], DAY, specs,
                     fdr_q=None).set_index(["series_id", "detector"])
    for key in staged.index:
        if staged.loc[key, "status"] == "ok":
            assert staged.loc[key, "expected"] == alone.loc[key, "expected"]


def test_a_multi_day_alert_says_when_the_change_becomes_the_baseline():
    from mq.stages.alert import acceptance_note

    assert acceptance_note(1, 14) == ""   # a one-day alert says nothing about baselines
    assert acceptance_note(3, 14) == "; flagged 3 days running: becomes the new baseline after 14"
    assert acceptance_note(14, 14) == "; flagged 14 days running: accepted as the new baseline from tomorrow"
    assert acceptance_note(5, 0) == ""    # accepting changes is turned off


def test_a_stored_drift_finding_holds_its_days_since_onset_out_of_that_slice_only(demo_config, tmp_path):
    # The daily run reads the onset stored with a drift finding and holds the same days a backfill
    # holds (detectors.runner.held_days): from the onset to the finding, on the drifting slice only.
    pipe = Pipeline(demo_config, state_url=f"sqlite:///{tmp_path / 'drift.db'}")
    hist = pair_history()
    found, onset = DAY - dt.timedelta(days=3), DAY - dt.timedelta(days=6)
    pipe.store.save_detections(PAIR, found, [{
        "slice_key": "platform=ios", "detector": "ratio_drift", "labels": {"platform": "ios"},
        "status": "anomaly", "drift": {"start": onset.isoformat(), "cumulative_effect": -900.0}}])
    settings = DetectSettings.from_config(demo_config)
    flags = past_flags(settings, pipe.store, pipe.ledger, settings.subject(PAIR), hist, DAY)
    held = flags["held"]
    assert set(held.series_id) == {"platform=ios"}
    assert sorted(held.partition) == [onset + dt.timedelta(days=k) for k in range(4)]
