"""validate_partition on small Spark DataFrames with known defects, against the demo suites."""
from __future__ import annotations

import datetime as dt
import json
import os
import time

import pytest

from checks import SUITES_DIR, CheckResult, load_suite, parse_suite, validate_partition
from mq.errors import ConfigError

DAY = dt.date(2026, 1, 5)
ROWS = 6000


def events(spark, *, timestamp_type: str = "timestamp", newest_hour: float = 23.9, **overrides):
    """A clean partition of `DAY`: ROWS events spread evenly up to `newest_hour` (UTC).

    `overrides` replace a column's SQL expression (`id` is the row number), to inject a defect.
    """
    step_seconds = newest_hour * 3600 / (ROWS - 1)
    columns = {
        "event_id": "concat('e', id)",
        "event_ts": f"{timestamp_type}'2026-01-05 00:00:00' + make_dt_interval(0, 0, 0, id * {step_seconds})",
        "event_type": "element_at(array('page_view', 'click', 'purchase', 'signup', 'share'), cast(id % 5 + 1 as int))",
        "platform": "element_at(array('ios', 'android', 'web'), cast(id % 3 + 1 as int))",
        "country": "element_at(array('US', 'IN', 'BR', 'DE', 'JP', 'GB', 'FR', 'MX'), cast(id % 8 + 1 as int))",
        "app_version": "if(id % 3 = 2, 'web', concat('10.', id % 5))",
        "user_id": "concat('u', id % 900)",
    }
    columns.update(overrides)
    return spark.range(ROWS).selectExpr(*[f"{expr} as {name}" for name, expr in columns.items()])


@pytest.fixture(scope="module")
def client_suite():
    return load_suite(SUITES_DIR / "client_events.yml")


def outcome(result: CheckResult, expectation: str, column: str | None = None):
    (found,) = [o for o in result.expectations if o.expectation == expectation and o.column == column]
    return found


@pytest.mark.parametrize("table", ["client_events", "warehouse_events"])
def test_clean_partition_passes_every_expectation(spark, table):
    suite = load_suite(SUITES_DIR / f"{table}.yml")
    result = validate_partition(events(spark), suite, partition=DAY)
    assert result.success, [o for o in result.expectations if not o.success]
    assert (result.table, result.suite, result.partition, result.suite_hash) == (
        table, table, DAY, suite.version_hash)
    assert len(result.expectations) == len(suite.expectations)
    assert all(o.success and o.unexpected_sample == [] for o in result.expectations)
    # Passing expectations keep what was measured, for the audit record.
    assert outcome(result, "expect_table_row_count_to_be_between").observed_value == ROWS
    assert outcome(result, "expect_column_values_to_be_unique", "event_id").unexpected_count == 0
    assert outcome(result, "expect_partition_freshness", "event_ts").observed_value.startswith("2026-01-05T23:54")
    json.dumps(result.to_dict())  # the audit record stores it as JSON


def test_duplicate_load_fails_uniqueness_with_duplicate_ids(spark, client_suite):
    df = events(spark)
    duplicated = df.union(df.where("event_id in ('e7', 'e8', 'e9')"))
    result = validate_partition(duplicated, client_suite, partition=DAY)
    unique = outcome(result, "expect_column_values_to_be_unique", "event_id")
    assert not result.success and not unique.success
    assert unique.unexpected_count == 6
    assert sorted(unique.unexpected_sample) == ["e7", "e8", "e9"]
    assert [o.expectation for o in result.failures] == ["expect_column_values_to_be_unique"]


def test_null_spike_fails_not_null_but_a_trickle_passes_mostly(spark, client_suite):
    spike = validate_partition(events(spark, user_id="if(id % 4 = 0, null, concat('u', id))"),
                               client_suite, partition=DAY)
    not_null = outcome(spike, "expect_column_values_to_not_be_null", "user_id")
    assert not not_null.success
    assert not_null.unexpected_count == ROWS // 4
    assert not_null.observed_value == pytest.approx(0.75)
    assert not_null.threshold == {"column": "user_id", "mostly": 0.98}

    trickle = validate_partition(events(spark, user_id="if(id % 100 = 0, null, concat('u', id))"),
                                 client_suite, partition=DAY)
    assert trickle.success


def test_unknown_platform_fails_value_set_with_the_bad_value(spark, client_suite):
    df = events(spark, platform="if(id % 1000 = 1, 'tv', element_at(array('ios', 'android', 'web'), cast(id % 3 + 1 as int)))")
    result = validate_partition(df, client_suite, partition=DAY)
    platform = outcome(result, "expect_column_values_to_be_in_set", "platform")
    assert not platform.success
    assert platform.unexpected_sample == ["tv"]
    assert platform.unexpected_count == 6
    assert platform.threshold["value_set"] == ["ios", "android", "web"]


@pytest.fixture
def driver_in_new_york():
    """pyspark returns TIMESTAMP values in the driver's local time zone: make it not UTC."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.mark.parametrize("timestamp_type", ["timestamp", "timestamp_ntz"])
def test_freshness_is_judged_against_the_partition_day_in_utc(spark, driver_in_new_york, timestamp_type):
    suite = parse_suite("table: t\nexpectations:\n  - expect_partition_freshness: {column: event_ts, max_lag_hours: 6}\n")
    fresh = validate_partition(events(spark, timestamp_type=timestamp_type), suite, partition=DAY)
    assert fresh.success, fresh.expectations

    stale = validate_partition(events(spark, timestamp_type=timestamp_type, newest_hour=12.0),
                               suite, partition=DAY)
    (freshness,) = stale.expectations
    assert not freshness.success
    assert freshness.observed_value == "2026-01-05T12:00:00Z"
    assert freshness.threshold["min_value"] == "2026-01-05T18:00:00+00:00"

    # The same data is not fresh for the next day's partition either.
    late = validate_partition(events(spark, timestamp_type=timestamp_type), suite,
                              partition=DAY + dt.timedelta(days=1))
    assert not late.success


def test_missing_column_is_a_config_error_before_any_spark_job(spark, tmp_path):
    suite = parse_suite("table: client_events\nexpectations:\n"
                        "  - expect_table_row_count_to_be_between: {min_value: 1}\n"
                        "  - expect_column_values_to_not_be_null: {column: device_id}\n", tmp_path / "s.yml")
    spark.sparkContext.setJobGroup("missing-column", "bind only")
    try:
        with pytest.raises(ConfigError) as info:
            validate_partition(events(spark), suite, partition=DAY)
        jobs = spark.sparkContext.statusTracker().getJobIdsForGroup("missing-column")
    finally:
        spark.sparkContext.setJobGroup("", "")
    err = info.value
    assert (err.path, err.key, err.value) == (
        str(tmp_path / "s.yml"), "expectations[1].expect_column_values_to_not_be_null.column", "device_id")
    assert "user_id" in str(err)  # the message lists the columns that do exist
    assert jobs == []


def test_freshness_on_a_non_timestamp_column_is_a_config_error(spark, tmp_path):
    suite = parse_suite("table: t\nexpectations:\n  - expect_partition_freshness: {column: event_id, max_lag_hours: 6}\n",
                        tmp_path / "t.yml")
    with pytest.raises(ConfigError, match="needs a timestamp column"):
        validate_partition(events(spark), suite, partition=DAY)


def test_missing_partition_fails_volume_and_freshness_without_crashing(spark, client_suite):
    result = validate_partition(events(spark).limit(0), client_suite, partition=DAY)
    failed = {o.expectation: o for o in result.failures}
    assert set(failed) == {"expect_table_row_count_to_be_between", "expect_partition_freshness"}
    assert failed["expect_table_row_count_to_be_between"].observed_value == 0
    assert failed["expect_partition_freshness"].observed_value is None
    assert all(o.error is None for o in result.expectations)
