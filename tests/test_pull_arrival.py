"""Completeness curves (`tables.<name>.completeness_curve`): the pull stores every metric of the table
over the rows arrived by the end of D+k, from the same one scan, and a bad curve config fails on load
naming the file, key and value."""
from __future__ import annotations

import datetime as dt
import textwrap

import pandas as pd
import pytest

from mq.config import Config, load_config
from mq.errors import ConfigError, PullError
from pulls import pull_partition, register_tables

DAY = dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def late_path(spark, tmp_path_factory):
    """Two partitions; row i of DAY arrives (i % 5) days after DAY at 13:00, every 7th never says."""
    path = tmp_path_factory.mktemp("arrival") / "events"
    rows = []
    for day in (DAY - dt.timedelta(days=1), DAY):
        for i in range(200):
            received = None if i % 7 == 0 else dt.datetime.combine(day, dt.time(13)) + dt.timedelta(days=i % 5)
            rows.append((f"e{i}", ["ios", "android"][i % 2], received, day.isoformat()))
    (spark.createDataFrame(rows, "event_id string, platform string, received_at timestamp, ds string")
     .write.partitionBy("ds").parquet(str(path)))
    return path


def make_config(path, curve: dict) -> Config:
    return Config.model_validate({
        "dimensions": ["platform"], "slices": [[], ["platform"]],
        "tables": {"events": {"path": str(path), "completeness_curve": curve}},
        "metrics": {"events_n": {"table": "events"},
                    "ios_n": {"table": "events", "where": "platform = 'ios'"}}})


def test_the_pull_counts_what_had_arrived_by_each_lag_in_one_scan(spark, late_path):
    config = make_config(late_path, {"column": "received_at", "lags_days": [0, 1, 3]})
    register_tables(spark, config)
    result = pull_partition(spark, config, "events", DAY)
    raw = spark.read.parquet(str(late_path)).where(f"ds = '{DAY}'").toPandas()
    lag = (pd.to_datetime(raw.received_at).dt.normalize() - pd.Timestamp(DAY)).dt.days
    points = result.points.set_index(["metric", "slice_key"]).value
    assert points[("events_n", "(total)")] == 200          # the metric itself: every row the partition holds
    for k in (0, 1, 3):
        assert points[(f"events_n__arrived_d{k}", "(total)")] == (lag <= k).sum()
        assert points[(f"ios_n__arrived_d{k}", "(total)")] == ((lag <= k) & (raw.platform == "ios")).sum()
        for platform in ("ios", "android"):
            assert points[(f"events_n__arrived_d{k}", f"platform={platform}")] == \
                ((lag <= k) & (raw.platform == platform)).sum()
    assert (lag <= 0).sum() < (lag <= 3).sum() < 200      # the curve grows, rows without a time never count
    assert result.evidence["sql_text"].count(" FROM events ") == 1    # no extra scan per lag


def test_a_missing_arrival_column_is_named(spark, late_path):
    config = make_config(late_path, {"column": "arrived"})
    register_tables(spark, config)
    with pytest.raises(PullError, match=r"tables\.events\.completeness_curve\.column: column 'arrived' not found"):
        pull_partition(spark, config, "events", DAY)


@pytest.mark.parametrize("curve, key, shown", [
    ("{column: received_at, lags_days: [0, 7, 2]}", "tables.events.completeness_curve.lags_days", "[0, 7, 2]"),
    ("{column: received_at, lags_days: [0, -1]}", "tables.events.completeness_curve.lags_days.1", "-1"),
    ("{column: received_at, lags_days: []}", "tables.events.completeness_curve.lags_days", "at least one lag"),
    ("{column: received_at, lags_days: [1, 2]}", "tables.events.completeness_curve.lags_days", "must be 0"),
    ("{column: received at}", "tables.events.completeness_curve.column", "'received at'"),
    ("{column: ds}", "tables.events.completeness_curve.column", "'ds' is the partition column"),
])
def test_a_bad_curve_config_names_file_key_and_value(tmp_path, curve, key, shown):
    path = tmp_path / "mq.yml"
    path.write_text(textwrap.dedent(f"""
        tables:
          events: {{path: /data/events, completeness_curve: {curve}}}
        metrics:
          events_n: {{table: events}}
        """))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and f"{key}:" in str(err.value) and shown in str(err.value)


def test_a_lag_whose_day_has_not_ended_is_not_stored_yet(spark, tmp_path):
    """Pulled today, yesterday's partition has its D+0 point (yesterday ended) but no D+1 or D+7 one: rows
    may still arrive by their end, and a re-pull then adds them."""
    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    path = tmp_path / "events"
    rows = [(f"e{i}", "ios", dt.datetime.combine(yesterday, dt.time(1)), yesterday.isoformat()) for i in range(5)]
    (spark.createDataFrame(rows, "event_id string, platform string, received_at timestamp, ds string")
     .write.partitionBy("ds").parquet(str(path)))
    config = make_config(path, {"column": "received_at", "lags_days": [0, 1, 7]})
    register_tables(spark, config)
    metrics = set(pull_partition(spark, config, "events", yesterday).points.metric)
    assert metrics == {"events_n", "ios_n", "events_n__arrived_d0", "ios_n__arrived_d0"}


def test_the_daily_run_settles_earlier_partitions_without_restating_them(spark, tmp_path):
    """The run of D re-pulls D - k for each lag k > 0: a partition first pulled the morning after its day
    (D+0 only) gets its D+1 and D+7 points from the runs of D+1 and D+7, while its pull stays version 1
    (its data did not change, so nothing certified on it would be revoked as a restatement)."""
    from mq.pipeline import Pipeline
    from mq.stages.pull import PullSettings, record_pull, run_pulls
    from pulls.arrival import drop_unreached_lags
    from pulls.pull import table_plan

    day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=8)
    path = tmp_path / "events"
    rows = [(f"e{i}", "ios", dt.datetime.combine(day, dt.time(9)) + dt.timedelta(days=(0, 0, 0, 1, 3)[i % 5]),
             day.isoformat()) for i in range(50)]
    (spark.createDataFrame(rows, "event_id string, platform string, received_at timestamp, ds string")
     .write.partitionBy("ds").parquet(str(path)))
    config = make_config(path, {"column": "received_at", "lags_days": [0, 1, 7]})
    pipe = Pipeline(config, spark=spark, state_url=f"sqlite:///{tmp_path / 'state.db'}")
    register_tables(spark, config)
    settings = PullSettings.from_config(config)
    # The daily run of `day`, the morning after it: only the D+0 lag had ended.
    full = pull_partition(spark, config, "events", day)
    morning = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(6), dt.timezone.utc)
    early = type(full)(full.table, full.partition, full.status, full.row_count,
                       drop_unreached_lags(full.points, table_plan(config, "events")[2], day, morning), full.evidence)
    record_pull(settings, pipe.store, pipe.ledger, early)

    def curve():
        points = pipe.store.points(["events_n__arrived_d0", "events_n__arrived_d1", "events_n__arrived_d7"], day, day)
        return dict(zip(points[points.slice_key == "(total)"].metric, points[points.slice_key == "(total)"].value))

    assert curve() == {"events_n__arrived_d0": 30}
    run_pulls(pipe, day + dt.timedelta(days=7))      # re-pulls day + 6, day + 5 (never pulled: left alone), day
    assert curve() == {"events_n__arrived_d0": 30, "events_n__arrived_d1": 40, "events_n__arrived_d7": 50}
    assert pipe.store.latest_pull("events", day)["version"] == 1
    assert pipe.store.latest_pull("events", day + dt.timedelta(days=6)) is None
    run_pulls(pipe, day + dt.timedelta(days=7))      # a re-run records nothing new
    assert pipe.store.latest_pull("events", day)["version"] == 1
    assert len(pipe.store.points(["events_n__arrived_d0"], day, day, version=3)) == 0   # the curve: v1 early, v2 settled
