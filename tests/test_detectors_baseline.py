"""Clean baselines: flagged days never feed a later baseline, in a range and in daily runs alike."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from detectors import DetectorSpec, evaluate, evaluate_range
from detectors.baseline import ancestors
from detectors.runner import decide

START = dt.date(2026, 1, 5)
RATIO = [DetectorSpec("ratio_binomial")]


def capture_series(days: int, *, seed: int, warehouse: float = 20_000, capture: float = 0.95,
                   wobble: float = 0.004, n_series: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Nested counts: warehouse Poisson, client a thinning with a daily capture rate that wobbles."""
    rng = np.random.default_rng(seed)
    n = rng.poisson(warehouse, size=(n_series, days)).astype(float)
    rate = np.clip(capture + wobble * rng.standard_normal((n_series, days)), 0, 1)
    return rng.binomial(n.astype(int), rate).astype(float), n


def frame(client: np.ndarray, warehouse: np.ndarray, names=None) -> pd.DataFrame:
    n_series, days = client.shape
    names = names or [f"s{i}" for i in range(n_series)]
    return pd.DataFrame({
        "series_id": np.repeat(names, days),
        "partition": np.tile([START + dt.timedelta(days=d) for d in range(days)], n_series),
        "value": client.ravel(), "denominator": warehouse.ravel()})


def day(k: int) -> dt.date:
    return START + dt.timedelta(days=k)


def width(row) -> float:
    return float(row.upper - row.lower)


def test_a_five_day_loss_fires_on_all_five_days_and_the_interval_then_returns_to_its_width():
    days, onset, n_series = 90, 60, 30
    client, warehouse = capture_series(days, seed=1, n_series=n_series)
    client[:, onset:onset + 5] *= 0.86  # a 14% client loss for five days, on every series
    result = evaluate_range(frame(client, warehouse), day(55), day(days - 1), RATIO, fdr_q=0.01)
    by = result.set_index(["series_id", "partition"])
    fired = [sum(by.loc[(f"s{i}", day(onset + k)), "status"] == "anomaly" for k in range(5)) for i in range(n_series)]
    assert fired == [5] * n_series
    # Width a week after the incident over the width the day before it began. One window's width is
    # a noisy estimate (about +-15% from ~25 days), so the claim is about the typical series; with
    # the incident days in the baseline this ratio is 7-11.
    ratio = [float((by.loc[(f"s{i}", day(onset + 12)), "upper"] - by.loc[(f"s{i}", day(onset + 12)), "lower"])
                   / (by.loc[(f"s{i}", day(onset - 1)), "upper"] - by.loc[(f"s{i}", day(onset - 1)), "lower"]))
             for i in range(n_series)]
    assert abs(np.median(ratio) - 1) <= 0.10
    assert max(ratio) < 1.5
    after = result[result.partition > day(onset + 4)]
    assert (after.status == "anomaly").mean() < 0.02


def test_a_daily_run_reading_the_stored_flags_gives_the_backfill_verdicts():
    days, onset = 80, 50
    client, warehouse = capture_series(days, seed=7, n_series=3)
    client[1, onset:onset + 4] *= 0.9
    client[2, onset + 10] *= 1.2
    history = frame(client, warehouse)
    backfill = evaluate_range(history, day(30), day(days - 1), RATIO, fdr_q=0.01)
    stored = pd.DataFrame(columns=["series_id", "partition"])
    daily = []
    for k in range(30, days):
        one = evaluate(history, day(k), RATIO, fdr_q=0.01, flagged=stored)
        daily.append(one)
        stored = pd.concat([stored, one.loc[one.status == "anomaly", ["series_id", "partition"]]])
    daily = pd.concat(daily, ignore_index=True)
    assert (backfill.status == "anomaly").sum() >= 5
    pd.testing.assert_frame_equal(backfill.reset_index(drop=True), daily.reset_index(drop=True))


def test_a_window_whose_every_day_is_flagged_is_insufficient_history_not_a_pass():
    days = 40
    client, warehouse = capture_series(days, seed=3)
    flagged = pd.DataFrame({"series_id": "s0", "partition": [day(k) for k in range(days - 1)]})
    result = evaluate(frame(client, warehouse), day(days - 1), RATIO, flagged=flagged, accept_after_days=None)
    assert result.status.tolist() == ["insufficient_history"]


def test_a_failed_check_day_is_left_out_of_every_baseline():
    days = 40
    client, warehouse = capture_series(days, seed=4)
    client[0, 30] *= 0.7   # a broken load that the table's suite failed on, not flagged by the detector
    history = frame(client, warehouse)
    excluded = evaluate(history, day(days - 1), RATIO, excluded_days=[day(30)])
    without_day = evaluate(history[history.partition != day(30)], day(days - 1), RATIO)
    assert excluded.expected.iloc[0] == pytest.approx(without_day.expected.iloc[0], rel=1e-12)
    assert excluded.upper.iloc[0] == pytest.approx(without_day.upper.iloc[0], rel=1e-12)


def test_a_flagged_slice_day_is_left_out_of_the_baseline_it_rolls_up_into():
    days = 40
    client, warehouse = capture_series(days, seed=5, n_series=2)
    history = frame(client, warehouse, names=["total", "ios"])
    flagged = pd.DataFrame({"series_id": ["ios"], "partition": [day(30)]})
    parents = ancestors({"total": {}, "ios": {"platform": "ios"}})
    assert parents == {"ios": ["total"]}
    rolled = evaluate(history, day(days - 1), RATIO, flagged=flagged, parents=parents).set_index("series_id")
    total_without = evaluate(history[(history.series_id == "total") & (history.partition != day(30))],
                             day(days - 1), RATIO)
    assert rolled.loc["total", "expected"] == pytest.approx(total_without.expected.iloc[0], rel=1e-12)
    alone = evaluate(history, day(days - 1), RATIO, flagged=flagged).set_index("series_id")
    assert alone.loc["total", "expected"] != rolled.loc["total", "expected"]


def test_a_lasting_change_becomes_the_baseline_after_the_configured_days_and_says_so():
    days, onset, accept = 110, 50, 10
    client, warehouse = capture_series(days, seed=6)
    client[0, onset:] *= 0.9  # a new client release that captures 10% less, for good
    result = evaluate_range(frame(client, warehouse), day(40), day(days - 1), RATIO, fdr_q=0.01,
                            accept_after_days=accept).set_index("partition")
    assert [result.loc[day(onset + k), "status"] for k in range(accept)] == ["anomaly"] * accept
    switch = result.loc[day(onset + accept)]
    assert bool(switch.accepted_today) and switch.baseline_since == day(onset)
    assert result.accepted_today.sum() == 1
    later = result.loc[day(onset + accept):]
    assert (later.status == "anomaly").mean() < 0.1
    assert later.expected.iloc[-1] == pytest.approx(0.95 * 0.9, rel=0.01)


def test_a_change_accepted_by_a_disposition_becomes_the_baseline_at_once():
    """Three flagged days, then a person accepts the change (a new release that logs 10% less by design):
    from the next day the baseline is the new level only, never a silent pass on too few days."""
    days, onset = 100, 50
    client, warehouse = capture_series(days, seed=6)
    client[0, onset:] *= 0.9
    flagged = pd.DataFrame({"series_id": "s0", "partition": [day(onset + k) for k in range(3)]})
    accepted = pd.DataFrame({"series_id": ["s0"], "since": [day(onset)], "until": [day(onset + 2)]})
    kwargs = dict(fdr_q=0.01, accept_after_days=None, flagged=flagged)
    result = evaluate_range(frame(client, warehouse), day(onset + 3), day(days - 1), RATIO, accepted=accepted,
                            **kwargs).set_index("partition")
    assert (result.status == "anomaly").mean() < 0.1
    assert (result.status.iloc[:3] == "insufficient_history").all()   # too few new days first: said so
    tested = result[result.status == "ok"]
    assert len(tested) > 30 and tested.expected.iloc[-1] == pytest.approx(0.95 * 0.9, rel=0.01)
    assert tested.baseline_since.iloc[0] == day(onset)   # said in the verdict while the window holds it
    # The same days without the disposition keep firing: it is the disposition that moved the baseline.
    refused = evaluate_range(frame(client, warehouse), day(onset + 3), day(days - 1), RATIO, **kwargs)
    assert (refused.status.iloc[:10] == "anomaly").all()


def test_without_acceptance_a_lasting_change_keeps_firing_while_the_window_holds_the_old_level():
    days, onset = 100, 50
    client, warehouse = capture_series(days, seed=6)
    client[0, onset:] *= 0.9
    result = evaluate_range(frame(client, warehouse), day(40), day(days - 1), RATIO, fdr_q=0.01,
                            accept_after_days=None).set_index("partition")
    assert (result.loc[day(onset):day(onset + 20), "status"] == "anomaly").all()
    assert not result.accepted_today.any()


def _raw(rows):
    base = {"spec": 0, "detector": "ratio_binomial", "partition": START, "status": "ok", "lower": 0.0,
            "upper": 2.0, "score": 5.0, "p_value": 1e-9, "direction": "up", "baseline_since": None,
            "accepted_today": False, "drift_start": None, "cumulative_effect": float("nan"),
            "drift_level": float("nan"), "drift_slope": float("nan")}
    return pd.DataFrame([{**base, **r} for r in rows])


@pytest.mark.parametrize("parent_p, child_change, expect", [
    (0.5, 0.02, "within_wobble"),   # parent normal, a 2% move on a slice that wobbles 1% a week
    (1e-9, 0.02, "anomaly"),        # the parent moved too: an incident, send it
    (0.5, 0.10, "anomaly"),         # far beyond the slice's own wobble
])
def test_a_slice_alert_is_held_back_only_when_its_parent_is_normal_and_its_change_is_ordinary(
        parent_p, child_change, expect):
    raw = _raw([
        {"series_id": "total", "observed": 1.0 + (0.05 if parent_p < 0.01 else 0.0), "expected": 1.0,
         "p_value": parent_p, "wobble": 0.005},
        {"series_id": "ios", "observed": 1.0 + child_change, "expected": 1.0, "wobble": 0.01},
    ])
    result = decide([raw], 0.01, 0.0, 0.0, {"ios": ["total"]}, 3.0).set_index("series_id")
    assert result.loc["ios", "status"] == expect
    off = decide([raw], 0.01, 0.0, 0.0, {"ios": ["total"]}, 0.0).set_index("series_id")
    assert off.loc["ios", "status"] == "anomaly"
