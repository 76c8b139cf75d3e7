"""The Spark engine scores series in applyInPandas buckets and gives the local engine's verdicts."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from detectors import DetectorSpec, evaluate, evaluate_range

START = dt.date(2026, 1, 5)  # a Monday
DAYS = 12 * 7  # longer than the widest detector window, so old rows fall outside it
WEEKDAY_SHAPE = np.array([1.0, 1.05, 1.1, 1.05, 0.95, 0.6, 0.55])
SPECS = [DetectorSpec(name) for name in ("seasonal_mad", "ratio_binomial", "cusum", "changepoint")]


def synthetic_pairs(n_series: int = 300, seed: int = 31) -> tuple[pd.DataFrame, set[str]]:
    """Client/warehouse daily counts with weekly shape; returns the history and the series given a drop."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(1_000, 20_000, size=(n_series, 1))
    warehouse = rng.poisson(level * np.resize(WEEKDAY_SHAPE, DAYS)).astype(float)
    client = rng.binomial(warehouse.astype(np.int64), rng.uniform(0.95, 0.99, size=(n_series, 1))).astype(float)
    dropped = rng.choice(n_series, size=12, replace=False)
    client[dropped, -1] = np.round(client[dropped, -1] * 0.6)  # lost 40% of client events today
    client[:5, :70] = warehouse[:5, :70] = np.nan  # five late starters
    client[5:7, 3:] = warehouse[5:7, 3:] = np.nan  # two series seen only in their first days
    ids = np.array([f"slice_{i:04d}" for i in range(n_series)], dtype=object)
    frame = pd.DataFrame(
        {
            "series_id": np.repeat(ids, DAYS),
            "partition": np.tile([START + dt.timedelta(days=d) for d in range(DAYS)], n_series),
            "value": client.ravel(),
            "denominator": warehouse.ravel(),
        }
    ).dropna()
    return frame.reset_index(drop=True), set(ids[dropped])


@pytest.fixture(scope="module")
def pairs():
    return synthetic_pairs()


def test_spark_and_local_engines_agree_on_every_verdict(spark, pairs):
    history, dropped = pairs
    end = history.partition.max()
    holidays = [end - dt.timedelta(days=2)]
    kwargs = dict(holidays=holidays, min_relative_effect=0.02, group_series=40)
    local = evaluate_range(history, end - dt.timedelta(days=2), end, SPECS, engine="local", **kwargs)
    in_spark = evaluate_range(spark.createDataFrame(history), end - dt.timedelta(days=2), end, SPECS, **kwargs)

    pd.testing.assert_frame_equal(in_spark, local, check_exact=False, rtol=1e-12)
    today = local[local.partition == end]
    flagged = set(today.loc[(today.status == "anomaly") & (today.detector == "ratio_binomial"), "series_id"])
    assert flagged == dropped
    assert set(local.status) == {"ok", "anomaly", "holiday", "insufficient_history", "missing"}


def test_a_pandas_history_can_be_sent_to_spark_and_fdr_spans_every_bucket(spark, pairs):
    history, _ = pairs
    end = history.partition.max()
    spec = [DetectorSpec("ratio_binomial")]
    local = evaluate(history, end, spec, engine="local")
    # Buckets of ~50 series: BH must still count all ~300 tests of the day.
    in_spark = evaluate(history, end, spec, engine="spark", group_series=50)
    pd.testing.assert_frame_equal(in_spark, local, check_exact=False, rtol=1e-12)
    tested = local[local.status.isin(["ok", "anomaly"])]
    smallest = tested.loc[tested.p_value.idxmin()]
    assert smallest.q_value == pytest.approx(smallest.p_value * len(tested))


def test_spark_history_with_string_partitions_and_rows_after_the_date(spark, pairs):
    history, _ = pairs
    end = history.partition.max() - dt.timedelta(days=7)
    as_text = history.assign(partition=history.partition.map(dt.date.isoformat))
    local = evaluate(history[history.partition <= end], end, SPECS, engine="local")
    in_spark = evaluate(spark.createDataFrame(as_text), end, SPECS, group_series=100)
    pd.testing.assert_frame_equal(in_spark, local, check_exact=False, rtol=1e-12)


def test_spark_history_without_a_denominator_cannot_run_a_ratio_detector(spark, pairs):
    history, _ = pairs
    from detectors import DetectorSpecError

    frame = spark.createDataFrame(history.drop(columns=["denominator"]).head(100))
    with pytest.raises(DetectorSpecError, match="needs a 'denominator' column"):
        evaluate(frame, history.partition.max(), [DetectorSpec("ratio_binomial")])


def test_the_detect_stage_sends_history_to_spark_when_the_config_says_so(spark, pairs):
    from types import SimpleNamespace

    from mq.config import Config
    from mq.stages.detect import DetectSettings, score

    history, dropped = pairs
    end = history.partition.max()
    hist = history.rename(columns={"series_id": "slice_key"})
    refs = [SimpleNamespace(name="ratio_binomial", params={})]
    verdicts = {}
    for engine in ("local", "spark"):
        config = Config.model_validate({"tables": {}, "detection": {"engine": engine, "group_series": 50}})
        verdicts[engine] = score(DetectSettings.from_config(config), hist, end, refs, spark=lambda: spark)
    pd.testing.assert_frame_equal(verdicts["spark"], verdicts["local"], check_exact=False, rtol=1e-12)
    assert set(verdicts["spark"].query("status == 'anomaly'").series_id) == dropped
