"""Behaviour of the detectors package as the pipeline sees it: evaluate / evaluate_range on daily series."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from detectors import DETECTOR_NAMES, DetectorSpec, DetectorSpecError, evaluate, evaluate_range, validate_spec
from detectors.runner import Subject, evaluate_subjects

START = dt.date(2026, 1, 5)  # a Monday
COUNT_DETECTORS = [name for name in DETECTOR_NAMES if name not in ("ratio_binomial", "ratio_drift")]
WEEKDAY_SHAPE = np.array([1.0, 1.05, 1.1, 1.05, 0.95, 0.6, 0.55])  # quiet weekends


def daily_counts(n_series: int, days: int, *, level: float = 2_000.0, seed: int = 0) -> np.ndarray:
    """Poisson daily event counts with a weekly pattern and per-series levels, shape (n_series, days)."""
    rng = np.random.default_rng(seed)
    levels = level * rng.uniform(0.5, 2.0, size=(n_series, 1))
    return rng.poisson(levels * np.resize(WEEKDAY_SHAPE, days)).astype(float)


def to_history(values: np.ndarray, denominators: np.ndarray | None = None) -> pd.DataFrame:
    n_series, days = values.shape
    frame = pd.DataFrame(
        {
            "series_id": np.repeat([f"series_{i:04d}" for i in range(n_series)], days),
            "partition": np.tile([START + dt.timedelta(days=d) for d in range(days)], n_series),
            "value": values.ravel(),
        }
    )
    if denominators is not None:
        frame["denominator"] = denominators.ravel()
    return frame.dropna(subset=["value"]).reset_index(drop=True)


def last_day(days: int) -> dt.date:
    return START + dt.timedelta(days=days - 1)


def status_of(result: pd.DataFrame, series: str, detector: str) -> str:
    return result.set_index(["series_id", "detector"]).loc[(series, detector), "status"]


@pytest.mark.parametrize("detector", ["seasonal_mad", "holt_winters"])
def test_one_day_30pct_drop_is_caught_with_six_weeks_history_and_weekly_pattern_stays_quiet(detector):
    days = 6 * 7 + 1
    values = daily_counts(40, days, seed=1)
    values[0, -1] *= 0.7
    result = evaluate(to_history(values), last_day(days), [DetectorSpec(detector)])
    assert status_of(result, "series_0000", detector) == "anomaly"
    row = result[result.series_id == "series_0000"].iloc[0]
    assert row.direction == "down" and row.observed < row.lower <= row.expected <= row.upper
    assert (result.status == "anomaly").sum() == 1  # the weekend dip of the other 39 is expected


def test_a_quiet_weekly_pattern_raises_almost_nothing_over_a_month_of_daily_runs():
    days = 10 * 7
    result = evaluate_range(
        to_history(daily_counts(30, days, seed=2)), last_day(days) - dt.timedelta(days=27), last_day(days),
        [DetectorSpec(name) for name in ("seasonal_mad", "cusum", "changepoint")],
    )
    assert set(result.status) <= {"ok", "anomaly"}
    # FDR at 5% per run allows a false alarm in ~1 run in 20 when nothing is wrong; 28 runs x 30 series.
    false_alarm_rate = (result.status == "anomaly").groupby(result.detector).mean()
    assert (false_alarm_rate < 0.01).all(), false_alarm_rate


def test_level_shift_four_days_old_is_a_changepoint_and_a_one_day_spike_is_not():
    days = 9 * 7
    values = daily_counts(20, days, seed=3)
    values[0, -4:] *= 0.8  # lasting 20% drop that started 4 days ago
    values[1, -1] *= 1.5  # one-day spike
    result = evaluate(to_history(values), last_day(days), [DetectorSpec("changepoint")])
    assert status_of(result, "series_0000", "changepoint") == "anomaly"
    assert status_of(result, "series_0001", "changepoint") == "ok"


def test_slow_ratio_drift_is_found_by_cusum_before_any_single_day_looks_odd():
    days = 12 * 7
    rng = np.random.default_rng(4)
    warehouse = rng.poisson(200_000, size=(10, days)).astype(float)
    ratio = np.full((10, days), 0.97) * (1 + rng.normal(0, 0.002, size=(10, days)))
    ratio[0, -14:] *= 1 - 0.0012 * np.arange(1, 15)  # -0.12% a day for two weeks
    client = np.round(warehouse * ratio)
    result = evaluate(
        to_history(client, warehouse), last_day(days), [DetectorSpec("cusum"), DetectorSpec("seasonal_mad")]
    )
    assert status_of(result, "series_0000", "cusum") == "anomaly"
    assert status_of(result, "series_0000", "seasonal_mad") == "ok"
    assert (result[result.series_id != "series_0000"].status == "ok").all()


def test_holiday_is_never_alerted_and_never_feeds_the_baseline():
    days = 6 * 7 + 1
    values = daily_counts(5, days, seed=5)
    holiday = last_day(days) - dt.timedelta(days=7)  # same weekday last week
    values[:, -8] *= 0.1
    history = to_history(values)
    specs = [DetectorSpec(name) for name in COUNT_DETECTORS]
    on_holiday = evaluate(history, holiday, specs, holidays=[holiday])
    assert set(on_holiday.status) == {"holiday"}
    assert set(on_holiday.direction) == {"down"}

    after = evaluate(history, last_day(days), specs, holidays=[holiday])
    assert (after.status == "ok").all(), after[after.status != "ok"]
    mad = after[after.detector == "seasonal_mad"].set_index("series_id")
    assert np.allclose(mad.expected, values[:, -15], rtol=0.1)  # last week's 90% drop is not in the baseline


@pytest.mark.parametrize("detector", DETECTOR_NAMES)
def test_short_history_is_insufficient_history_never_an_alert(detector):
    values = daily_counts(3, 6, seed=6)
    denominators = values * 1.01
    values[0, -1] *= 0.1
    result = evaluate(to_history(values, denominators), last_day(6), [DetectorSpec(detector)])
    assert set(result.status) == {"insufficient_history"}
    assert result.q_value.isna().all() and result.direction.isna().all()


def test_a_missing_partition_is_a_gap_not_a_zero():
    days = 6 * 7 + 1
    values = daily_counts(3, days, seed=7)
    values[0, -1] = np.nan
    values[1, -10] = np.nan
    result = evaluate(to_history(values), last_day(days), [DetectorSpec("seasonal_mad")])
    assert status_of(result, "series_0000", "seasonal_mad") == "missing"
    assert status_of(result, "series_0001", "seasonal_mad") == "ok"


@pytest.mark.parametrize("events", [50, 5_000_000])
def test_same_2pct_gap_is_significant_at_5m_events_but_not_at_50(events):
    days = 29
    rng = np.random.default_rng(8)
    warehouse = np.full((1, days), float(events))
    client = rng.poisson(events, size=(1, days)).astype(float)  # client ~ warehouse, Poisson noise
    client[0, -1] = round(events * 0.98)
    result = evaluate(to_history(client, warehouse), last_day(days), [DetectorSpec("ratio_binomial")])
    row = result.iloc[0]
    assert row.observed == pytest.approx(0.98, abs=0.3)
    assert row.status == ("anomaly" if events == 5_000_000 else "ok")


def test_ratio_wobble_learnt_from_history_makes_a_2pct_gap_at_5m_events_ordinary():
    days = 29
    rng = np.random.default_rng(9)
    warehouse = np.full((1, days), 5e6)
    client = np.round(warehouse * rng.normal(1.0, 0.02, size=(1, days)))  # day-to-day 2% wobble
    client[0, -1] = 0.98 * 5e6
    result = evaluate(to_history(client, warehouse), last_day(days), [DetectorSpec("ratio_binomial")])
    assert result.iloc[0].status == "ok"


def nested_counts(days: int, capture: float, last_capture: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Client = binomial thinning of the warehouse count (every client event is a warehouse event)."""
    rng = np.random.default_rng(seed)
    warehouse = np.full((1, days), 100_000.0)
    client = rng.binomial(100_000, capture, size=(1, days)).astype(float)
    client[0, -1] = round(100_000 * last_capture)
    return client, warehouse


def test_a_small_capture_drop_of_nested_counts_is_caught_by_the_nested_model():
    # 0.3 points of capture lost on 100k events: 300 events, ~3.7 binomial sd of the thinning, but
    # only ~1.4 sd under the independent-counts model, which would call it noise.
    client, warehouse = nested_counts(29, 0.93, 0.927, seed=21)
    at = last_day(29)
    status = {model: evaluate(to_history(client, warehouse), at,
                              [DetectorSpec("ratio_binomial", {"model": model})]).iloc[0].status
              for model in ("auto", "nested", "independent")}
    assert status == {"auto": "anomaly", "nested": "anomaly", "independent": "ok"}


def test_auto_uses_the_independent_model_once_the_client_has_counted_more_than_the_warehouse():
    client, warehouse = nested_counts(29, 0.93, 0.927, seed=21)
    client[0, 3] = warehouse[0, 3] + 10      # one past day with more client than warehouse events
    at = last_day(29)
    auto, independent = (evaluate(to_history(client, warehouse), at,
                                  [DetectorSpec("ratio_binomial", {"model": m})]) for m in ("auto", "independent"))
    pd.testing.assert_frame_equal(auto, independent)


def test_fdr_keeps_false_alarms_rare_across_1000_null_series():
    days = 6 * 7 + 1
    history = to_history(daily_counts(1_000, days, level=500.0, seed=10))
    spec = [DetectorSpec("seasonal_mad", {"min_relative_scale": 0.0})]
    raw = evaluate(history, last_day(days), spec, fdr_q=None)
    controlled = evaluate(history, last_day(days), spec, fdr_q=0.05)
    assert (raw.status == "anomaly").sum() >= 10  # ~5% of 1,000 at an uncorrected 0.05
    assert (controlled.status == "anomaly").sum() <= 2
    assert (controlled.q_value >= controlled.p_value).all()


def test_minimum_effect_sizes_hold_back_small_but_significant_changes():
    days = 6 * 7 + 1
    values = daily_counts(1, days, level=1e6, seed=11)
    values[0, -1] *= 0.95
    history, at, spec = to_history(values), last_day(days), [DetectorSpec("seasonal_mad")]
    assert evaluate(history, at, spec).iloc[0].status == "anomaly"
    assert evaluate(history, at, spec, min_relative_effect=0.10).iloc[0].status == "ok"
    assert evaluate(history, at, spec, min_absolute_effect=1e6).iloc[0].status == "ok"


@pytest.mark.parametrize("detector", DETECTOR_NAMES)
def test_backfill_equals_the_daily_run(detector):
    days = 9 * 7
    values = daily_counts(4, days, seed=12)
    values[1, 50] *= 0.5
    values[2, 20:24] = np.nan
    history = to_history(values, values * np.random.default_rng(13).uniform(0.98, 1.02, values.shape))
    dates = [last_day(days) - dt.timedelta(days=k) for k in (14, 12, 3, 0)]
    holidays = [dates[1] - dt.timedelta(days=1)]
    spec = [DetectorSpec(detector)]
    backfill = evaluate_range(history, dates[0], dates[-1], spec, holidays=holidays)
    for day in dates:
        daily = evaluate(history[history.partition <= day], day, spec, holidays=holidays)
        pd.testing.assert_frame_equal(
            backfill[backfill.partition == day].reset_index(drop=True), daily.reset_index(drop=True)
        )
    assert len(backfill) == 4 * 15


def test_output_has_the_contract_columns_and_statuses():
    days = 6 * 7 + 1
    result = evaluate(to_history(daily_counts(2, days)), last_day(days), [DetectorSpec("seasonal_mad")])
    assert list(result.columns) == [
        "series_id", "detector", "partition", "status", "observed", "expected", "lower", "upper",
        "score", "p_value", "q_value", "direction", "baseline_since", "accepted_today",
        "drift_start", "cumulative_effect", "drift_level", "drift_slope",
    ]
    assert set(result.status) <= {"anomaly", "ok", "within_wobble", "insufficient_history", "holiday", "missing"}
    assert (result.partition == last_day(days)).all()


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("seasonal_median", {}, "valid detectors: ['seasonal_mad', 'ratio_binomial', 'ratio_drift', 'cusum'"),
        ("seasonal_mad", {"window_wekes": 6}, "unknown parameter(s) ['window_wekes']; valid parameters: ['window_weeks'"),
        ("seasonal_mad", {"window_weeks": 1}, "window_weeks: must be at least 2 (got 1)"),
        ("cusum", {"k": "big"}, "'cusum': k must be a number (got 'big')"),
        ("ratio_binomial", {"window_days": 7.5}, "window_days must be an integer"),
        ("ratio_binomial", {"model": "poisson"}, "model: must be auto, nested or independent (got 'poisson')"),
    ],
)
def test_bad_specs_fail_early_naming_the_detector_or_parameter(name, params, message):
    with pytest.raises(ValueError) as err:
        validate_spec(name, params)
    assert message in str(err.value)
    assert isinstance(err.value, DetectorSpecError)


def test_ratio_detector_without_denominator_column_is_a_clear_error():
    with pytest.raises(ValueError, match="'ratio_binomial' .* needs a 'denominator' column"):
        evaluate(to_history(daily_counts(1, 30)), last_day(30), [DetectorSpec("ratio_binomial")])


def test_rows_after_the_evaluated_date_are_ignored():
    days = 6 * 7 + 1
    values = daily_counts(3, days + 5, seed=14)
    history = to_history(values)
    at = last_day(days)
    with_future = evaluate(history, at, [DetectorSpec("seasonal_mad")])
    without = evaluate(history[history.partition <= at], at, [DetectorSpec("seasonal_mad")])
    pd.testing.assert_frame_equal(with_future, without)


def test_a_ratio_with_no_client_events_at_all_is_not_judged():
    days = 29
    warehouse = np.full((2, days), 1_000.0)
    client = np.vstack([np.zeros(days), np.full(days, 990.0)])
    result = evaluate(to_history(client, warehouse), last_day(days), [DetectorSpec("ratio_binomial")])
    assert result.status.tolist() == ["insufficient_history", "ok"]


def test_count_detectors_run_on_the_ratio_when_a_denominator_is_given():
    days = 6 * 7 + 1
    warehouse = daily_counts(2, days, seed=15)
    client = np.round(warehouse * 0.97)
    client[0, -1] = np.round(warehouse[0, -1] * 0.70)
    result = evaluate(to_history(client, warehouse), last_day(days), [DetectorSpec("seasonal_mad")])
    assert result.observed.iloc[0] == pytest.approx(0.70, abs=0.01)
    assert result.status.tolist() == ["anomaly", "ok"]


@pytest.mark.parametrize(
    ("p_values", "q_values"),
    [
        ([0.01, 0.04, 0.03, 0.5], [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5]),
        ([0.2, np.nan, 0.2], [0.2, np.nan, 0.2]),
        ([], []),
    ],
)
def test_benjamini_hochberg_adjustment(p_values, q_values):
    from detectors.fdr import benjamini_hochberg

    np.testing.assert_allclose(benjamini_hochberg(np.array(p_values)), np.array(q_values))


# ---- groups of series: memory stays flat, verdicts do not change ------------------------------------

def mixed_history(n_series: int = 60, days: int = 9 * 7, seed: int = 20) -> pd.DataFrame:
    """Ratio series with drops, spikes, gaps, late starters and one series seen only long ago."""
    rng = np.random.default_rng(seed)
    warehouse = daily_counts(n_series, days, seed=seed)
    client = np.round(warehouse * rng.uniform(0.96, 0.99, size=(n_series, 1)))
    client[:6, -1] = np.round(warehouse[:6, -1] * 0.7)  # today's drop of the client side
    warehouse[6:9, -3:] *= 1.4  # a spike lasting three days
    client[6:9, -3:] *= 1.4
    client[9:12, -1] = warehouse[9:12, -1] = np.nan  # today's partition missing
    client[12:15, :40] = warehouse[12:15, :40] = np.nan  # started late
    client[15:18, 20:30] = warehouse[15:18, 20:30] = np.nan  # a gap
    client[18, 3:] = warehouse[18, 3:] = np.nan  # only a few old rows
    return to_history(client, warehouse)


ALL_SPECS = [DetectorSpec(name) for name in DETECTOR_NAMES] + [DetectorSpec("seasonal_mad", {"window_weeks": 3})]
# holt_winters fits one model per series (slow, and trivially independent of the grouping).
VECTORISED_SPECS = [spec for spec in ALL_SPECS if spec.name != "holt_winters"]


@pytest.mark.parametrize("group_series", [4, 25])
def test_scoring_in_groups_gives_the_one_matrix_verdicts_and_q_values(group_series):
    history = mixed_history()
    end = history.partition.max()
    start, holidays = end - dt.timedelta(days=4), [end - dt.timedelta(days=2)]
    kwargs = dict(holidays=holidays, min_relative_effect=0.02)
    whole = evaluate_range(history, start, end, VECTORISED_SPECS, group_series=len(history), **kwargs)
    grouped = evaluate_range(history, start, end, VECTORISED_SPECS, group_series=group_series, **kwargs)
    assert (whole.status == "anomaly").sum() >= 6
    assert {"missing", "insufficient_history", "holiday"} <= set(whole.status)
    pd.testing.assert_frame_equal(grouped, whole)


def test_history_may_arrive_as_chunks_of_whole_series_in_any_order():
    history = mixed_history()
    end = history.partition.max()
    whole = evaluate(history, end, ALL_SPECS)
    ids = sorted(history.series_id.unique(), reverse=True)
    chunks = (history[history.series_id.isin(ids[lo : lo + 13])] for lo in range(0, len(ids), 13))
    pd.testing.assert_frame_equal(evaluate(history, end, ALL_SPECS, group_series=5), whole)
    pd.testing.assert_frame_equal(evaluate(chunks, end, ALL_SPECS, group_series=5), whole)


def test_fdr_is_controlled_across_all_groups_not_within_each():
    # 400 quiet series and one clear drop: a group holding the drop alone would flag it at any q,
    # so the q-value must count all 401 tests, whichever group the series landed in.
    days = 6 * 7 + 1
    values = daily_counts(401, days, level=500.0, seed=21)
    values[0, -1] *= 0.75
    history, at, spec = to_history(values), last_day(days), [DetectorSpec("seasonal_mad")]
    whole = evaluate(history, at, spec, group_series=401)
    singles = evaluate(history, at, spec, group_series=1)
    pd.testing.assert_frame_equal(singles, whole)
    drop = singles.iloc[0]
    assert drop.status == "anomaly"
    assert drop.q_value == pytest.approx(drop.p_value * 401)


def test_a_series_split_over_two_chunks_is_an_error():
    history = to_history(daily_counts(3, 30))
    chunks = [history[history.partition < last_day(10)], history[history.partition >= last_day(10)]]
    with pytest.raises(ValueError, match="'series_0000' appears in more than one history chunk"):
        evaluate(iter(chunks), last_day(30), [DetectorSpec("seasonal_mad")])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "gpu"}, "engine must be one of ['auto', 'local', 'spark'] (got 'gpu')"),
        ({"group_series": 0}, "group_series must be >= 1 (got 0)"),
    ],
)
def test_bad_engine_settings_are_named(kwargs, message):
    history = to_history(daily_counts(1, 30))
    with pytest.raises(ValueError) as err:
        evaluate(history, last_day(30), [DetectorSpec("seasonal_mad")], **kwargs)
    assert message in str(err.value)


def test_auto_engine_stays_local_below_the_row_threshold_and_for_chunks():
    from detectors.runner import choose_engine

    history = to_history(daily_counts(2, 30))
    assert choose_engine(history, "auto", spark_min_rows=61) == "local"
    assert choose_engine(history, "auto", spark_min_rows=60) == "spark"
    assert choose_engine(iter([history]), "auto", spark_min_rows=0) == "local"
    with pytest.raises(ValueError, match="engine='spark' needs a Spark or pandas DataFrame"):
        choose_engine(iter([history]), "spark", spark_min_rows=0)


def test_a_partitions_metrics_and_pairs_are_one_false_discovery_family_so_a_clean_day_rarely_sends_a_message():
    # Four clean subjects scored together: the days with any anomaly (the partition's one message)
    # stay within the FDR level q; scored one subject at a time, each family spends its own q.
    rng = np.random.default_rng(3)
    days, n_series, q = 160, 40, 0.1
    start = dt.date(2025, 1, 6)

    def clean_pair() -> pd.DataFrame:
        n = rng.poisson(20_000, size=(n_series, days))
        return pd.DataFrame({"series_id": np.repeat([f"s{i}" for i in range(n_series)], days),
                             "partition": np.tile([start + dt.timedelta(days=d) for d in range(days)], n_series),
                             "value": rng.binomial(n, 0.95).ravel().astype(float),
                             "denominator": n.ravel().astype(float)})

    subjects = {f"pair{k}": Subject(clean_pair(), [DetectorSpec("ratio_binomial")]) for k in range(4)}
    first, last = start + dt.timedelta(days=60), start + dt.timedelta(days=days - 1)
    together = evaluate_subjects(subjects, first, last, fdr_q=q)
    apart = {k: evaluate_range(s.history, first, last, s.specs, fdr_q=q) for k, s in subjects.items()}

    def message_days(verdicts: dict) -> int:
        return pd.concat([v[v.status == "anomaly"] for v in verdicts.values()]).partition.nunique()

    scored = days - 60
    allowed = q * scored + 3 * np.sqrt(q * (1 - q) * scored)
    assert message_days(together) <= allowed
    assert message_days(apart) > allowed   # what separate families per subject would send
    assert set(together) == set(subjects) and all(len(v) == n_series * scored for v in together.values())
