"""The calibrated ratio drift detector: slow drifts found within days, clean years stay quiet."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from detectors import DetectorSpec, evaluate_range
from detectors.ratio_drift import null_calibration

START = dt.date(2025, 1, 6)


def nested(days: int, *, seed: int, n_series: int = 1, warehouse: float = 50_000, capture: float = 0.95,
           noise: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Client a thinning of the warehouse count with a capture rate whose day-to-day noise is `noise`
    (relative sd), far above the binomial's at this volume: overdispersion the detector must learn."""
    rng = np.random.default_rng(seed)
    n = rng.poisson(warehouse, size=(n_series, days))
    rate = np.clip(capture * (1 + noise * rng.standard_normal((n_series, days))), 0, 1)
    return rng.binomial(n, rate).astype(float), n.astype(float)


def frame(client: np.ndarray, warehouse: np.ndarray) -> pd.DataFrame:
    n_series, days = client.shape
    return pd.DataFrame({
        "series_id": np.repeat([f"s{i}" for i in range(n_series)], days),
        "partition": np.tile([START + dt.timedelta(days=d) for d in range(days)], n_series),
        "value": client.ravel(), "denominator": warehouse.ravel()})


def day(k: int) -> dt.date:
    return START + dt.timedelta(days=k)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_half_percent_a_day_drift_on_a_one_percent_noise_ratio_is_found_within_seven_days(seed):
    days, onset = 120, 80
    client, warehouse = nested(days, seed=seed)
    client[0, onset:] *= 1 - 0.005 * np.arange(1, days - onset + 1)   # -0.5% a day, compounding to -20%
    result = evaluate_range(frame(client, warehouse), day(onset - 10), day(onset + 14),
                            [DetectorSpec("ratio_drift")], fdr_q=0.01).set_index("partition")
    assert (result.loc[: day(onset - 1), "status"] != "anomaly").all()
    found = result.loc[day(onset):]
    first = found.index[found.status == "anomaly"][0]
    assert (first - day(onset)).days < 7
    row = found.loc[first]
    # It says when the drift began (the chart's last zero: a few days early when noise leaned the same way)
    # and how many events it cost.
    assert abs((row.drift_start - day(onset)).days) <= 5
    lost = (warehouse[0, onset:] * 0.95 - client[0, onset:])[: (first - day(onset)).days + 1].sum()
    assert row.cumulative_effect < 0 and abs(row.cumulative_effect) == pytest.approx(lost, rel=0.6)


def test_two_clean_years_raise_no_more_false_alarms_than_the_target_run_length_allows():
    # 40 series x 2 years of clean, overdispersed ratios with a short target run length, so that the
    # expected count is large enough to measure: alarm episodes (runs of alarm days) per series-day
    # must not exceed 1 / arl_days by more than sampling noise allows.
    arl, n_series, days = 200.0, 40, 730
    client, warehouse = nested(days, seed=5, n_series=n_series)
    result = evaluate_range(frame(client, warehouse), day(60), day(days - 1),
                            [DetectorSpec("ratio_drift", {"arl_days": arl})], fdr_q=None)
    alarms = result.pivot(index="partition", columns="series_id", values="status").eq("anomaly").to_numpy()
    episodes = int((alarms[1:] & ~alarms[:-1]).sum() + alarms[0].sum())
    series_days = alarms.size
    allowed = series_days / arl
    assert episodes <= allowed + 3 * np.sqrt(allowed)
    assert episodes >= 1  # the detector is live: at this short run length some false alarms happen


def test_the_control_limit_is_the_one_that_gives_the_target_run_length_in_simulation():
    short, _, _ = null_calibration(14, 0.5, 100.0, 42)
    long, ordered, _ = null_calibration(14, 0.5, 3650.0, 42)
    assert 0 < short < long < ordered[-1]


def test_after_a_five_day_loss_the_drift_chart_restarts_clean_instead_of_alarming_for_two_weeks():
    # The loss is flagged (by ratio_binomial) on its days; those days must not feed the drift chart,
    # or its 14-day window keeps it above the limit long after the ratio is back to normal.
    days, onset = 130, 80
    client, warehouse = nested(days, seed=7, n_series=5)
    client[:, onset : onset + 5] *= 0.9
    result = evaluate_range(frame(client, warehouse), day(onset - 5), day(onset + 25),
                            [DetectorSpec("ratio_binomial"), DetectorSpec("ratio_drift")], fdr_q=0.01)
    anomalies = result[result.status == "anomaly"]
    during = anomalies[(anomalies.partition >= day(onset)) & (anomalies.partition < day(onset + 5))]
    assert during[["series_id", "partition"]].drop_duplicates().shape[0] == 5 * 5
    after = anomalies[(anomalies.partition >= day(onset + 5)) & (anomalies.detector == "ratio_drift")]
    assert after.empty, after[["series_id", "partition", "detector"]].to_string()


def test_the_minimum_effect_reads_a_drifts_projected_level_so_a_slow_drift_is_not_held_back():
    # Under the demo's 3% minimum effect a 0.5%/day drift is still below 3% on its first five days; its
    # level projected over the 7-day horizon is not, so nearly all are found within 7 days. Without the
    # projection (horizon 0) each waits until its estimated level itself reaches 3%.
    days, onset, n = 110, 80, 20
    client, warehouse = nested(days, seed=21, n_series=n)
    client[:, onset:] *= 1 - 0.005 * np.arange(1, days - onset + 1)
    runs = {h: evaluate_range(frame(client, warehouse), day(onset - 10), day(onset + 20),
                              [DetectorSpec("ratio_drift")], fdr_q=0.01, min_relative_effect=0.03,
                              drift_horizon_days=h) for h in (7, 0)}
    first = {h: r[r.status == "anomaly"].sort_values("partition").groupby("series_id").head(1).set_index("series_id")
             for h, r in runs.items()}
    assert not (runs[7][runs[7].partition < day(onset)].status == "anomaly").any()
    delay = {h: np.array([(f.partition.get(f"s{i}", day(onset + 30)) - day(onset)).days for i in range(n)])
             for h, f in first.items()}
    assert np.mean(delay[7] < 7) >= 0.9
    assert (delay[0] >= delay[7]).all() and delay[0].mean() > delay[7].mean()
    assert -0.0075 < first[7].drift_slope.median() < -0.003 and (first[7].drift_level < 0).all()
    assert (first[7].drift_level.abs() < 0.03).any()    # the projection is what let those through
    assert (first[0].drift_level.abs() >= 0.03).all()


def test_the_ramp_chart_finds_a_linear_drift_sooner_than_the_cusum_it_replaces():
    days, onset, n = 110, 80, 24
    client, warehouse = nested(days, seed=31, n_series=n)
    slopes = np.linspace(0.003, 0.007, n)[:, None]
    client[:, onset:] *= 1 - slopes * np.arange(1, days - onset + 1)[None, :]

    def delays(chart: str) -> np.ndarray:
        result = evaluate_range(frame(client, warehouse), day(onset), day(onset + 20),
                                [DetectorSpec("ratio_drift", {"chart": chart})], fdr_q=0.01)
        hits = result[result.status == "anomaly"].groupby("series_id").partition.min()
        return np.array([(hits.get(f"s{i}", day(onset + 30)) - day(onset)).days for i in range(n)])

    ramp, cusum = delays("ramp"), delays("cusum")
    assert np.mean(ramp) < np.mean(cusum) - 0.5   # about a day sooner on average
    assert np.mean(ramp <= cusum) >= 0.8


def test_one_outlying_day_is_not_a_drift():
    # A single day 8% off on a 1%-noise ratio (a one-day incident, or a heavier tail than the model's)
    # weighs most in a ramp that ends on it; the chart's winsorised residuals keep it from passing as one.
    days, spike = 140, 100
    client, warehouse = nested(days, seed=41, n_series=5)
    client[:, spike] *= 0.92
    result = evaluate_range(frame(client, warehouse), day(spike - 3), day(spike + 13),
                            [DetectorSpec("ratio_drift")], fdr_q=0.01)
    assert not (result.status == "anomaly").any(), result[result.status == "anomaly"].to_string()
    unclipped = evaluate_range(frame(client, warehouse), day(spike), day(spike),
                               [DetectorSpec("ratio_drift", {"clip_z": 0})], fdr_q=0.01)
    assert (unclipped.status == "anomaly").all()   # without winsorising, the spike alone would alarm


def test_a_drift_alert_says_since_when_how_fast_and_where_it_heads():
    from core.config import AlertingSpec
    from mq.stages.alert import drift_note

    alerting = AlertingSpec(min_relative_effect=0.03, drift_horizon_days=7)
    effect, horizon = alerting.min_relative_effect, alerting.drift_horizon_days
    at = dt.date(2026, 3, 24)
    early = drift_note({"start": "2026-03-19", "level": -0.02, "slope": -0.004, "cumulative_effect": -812.4},
                       at, effect, horizon)
    assert early == ("; falling ~0.4%/day since 2026-03-19: -2.0% so far, -4.8% at this rate by 2026-03-31 "
                     "(alerted on that: under the 3% minimum effect so far); 812 events lost since then")
    late = drift_note({"start": "2026-03-12", "level": -0.05, "slope": -0.004, "cumulative_effect": -2100.0},
                      at, effect, horizon)
    assert late == "; falling ~0.4%/day since 2026-03-12: -5.0% so far; 2,100 events lost since then"
    assert drift_note(None, at, effect, horizon) == ""


def two_drifts(client: np.ndarray, first: int, first_days: int, gap: int, *, first_rate: float = 0.003,
               second_rate: float = 0.005, with_first: bool = True) -> tuple[np.ndarray, int]:
    """The client counts with a drift of `first_rate` a day for `first_days` days from `first` (then
    fixed) and, `gap` days after it ended, a second one of `second_rate` a day on the same series."""
    days = client.shape[1]
    second = first + first_days + gap
    ramp = np.zeros(days)
    if with_first:
        ramp[first : first + first_days] = first_rate * np.arange(1, first_days + 1)
    ramp[second:] = second_rate * np.arange(1, days - second + 1)
    return client * (1 - ramp)[None, :], second


@pytest.mark.parametrize("seed", [3, 4])
def test_a_second_drift_nine_days_after_a_first_one_on_the_same_slice_is_found_about_as_soon_as_alone(seed):
    # The first drift is found a few days after it began and then flagged until it is fixed. Neither its
    # days before it was found (unflagged) nor its flagged run (long enough to be accepted as a new level)
    # may become the baseline the second drift is measured against.
    days, first, n = 200, 110, 20
    client, warehouse = nested(days, seed=seed, n_series=n)

    def delays(with_first: bool) -> np.ndarray:
        drifted, second = two_drifts(client, first, 20, 9, with_first=with_first)
        result = evaluate_range(frame(drifted, warehouse), day(first - 5), day(second + 14),
                                [DetectorSpec("ratio_binomial"), DetectorSpec("ratio_drift")], fdr_q=0.01)
        hits = result[(result.status == "anomaly") & (result.partition >= day(second))]
        found = hits.groupby("series_id").partition.min()
        return np.array([(found.get(f"s{i}", day(second + 30)) - day(second)).days for i in range(n)])

    after, alone = delays(True), delays(False)
    assert (after <= 14).all()                      # every second drift is found
    assert np.mean(after < 7) >= 0.9
    assert after.mean() <= alone.mean() + 1.0


def test_daily_runs_that_read_the_stored_verdicts_hold_the_same_days_as_a_backfill():
    from detectors import evaluate
    from detectors.runner import held_days

    days, first = 170, 110
    client, warehouse = nested(days, seed=3, n_series=4)
    drifted, second = two_drifts(client, first, 20, 9)
    history = frame(drifted, warehouse)
    specs = [DetectorSpec("ratio_binomial"), DetectorSpec("ratio_drift")]
    start, end = day(first), day(second + 8)
    backfill = evaluate_range(history, start, end, specs, fdr_q=0.01)
    stored = []
    for k in range((end - start).days + 1):
        past = pd.concat(stored, ignore_index=True) if stored else backfill.iloc[:0]
        flagged = past.loc[past.status == "anomaly", ["series_id", "partition"]]
        stored.append(evaluate(history, start + dt.timedelta(days=k), specs, fdr_q=0.01,
                               flagged=flagged, held=held_days(past)))
    daily = pd.concat(stored, ignore_index=True)
    assert (backfill.status == "anomaly").sum() > 20   # both drifts are found on many days
    assert len(held_days(backfill)) > len(backfill.loc[backfill.status == "anomaly"].drop_duplicates(
        ["series_id", "partition"]))                    # and their onsets reach before the first finding
    key = ["series_id", "detector", "partition"]
    pd.testing.assert_frame_equal(daily.sort_values(key).reset_index(drop=True)[key + ["status", "expected"]],
                                  backfill.sort_values(key).reset_index(drop=True)[key + ["status", "expected"]])
