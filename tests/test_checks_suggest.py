"""suggest_suite: the starter suite loads, says what it saw, and passes on the data it came from."""
from __future__ import annotations

import datetime as dt

from checks import parse_suite, suggest_suite, validate_partition

DAY = dt.date(2026, 1, 5)


def test_suggested_suite_loads_and_passes_on_its_own_partition(spark, tmp_path):
    df = spark.range(3000).selectExpr(
        "concat('e', id) as event_id",
        "timestamp'2026-01-05 00:00:00' + make_dt_interval(0, 0, 0, id * 28.0) as event_ts",
        "element_at(array('ios', 'android', 'web'), cast(id % 3 + 1 as int)) as platform",
        "if(id % 50 = 0, null, concat('u', id % 400)) as user_id",
        "cast(id % 7 as int) as items",
    )
    text = suggest_suite(df, "events")
    path = tmp_path / "events.yml"
    path.write_text(text)
    suite = parse_suite(text, path)
    by_name = {}
    for e in suite.expectations:
        by_name.setdefault(e.name, []).append(e.kwargs)

    assert suite.table == "events"
    assert {"column": "event_id"} in by_name["expect_column_values_to_be_unique"]
    assert len(by_name["expect_column_values_to_be_unique"]) == 1   # user_id repeats
    assert {"column": "platform", "value_set": ["android", "ios", "web"]} in by_name["expect_column_values_to_be_in_set"]
    assert {"column": "user_id", "mostly": 0.97} in by_name["expect_column_values_to_not_be_null"]
    assert {"column": "items", "min_value": 0, "max_value": 6} in by_name["expect_column_values_to_be_between"]
    assert by_name["expect_partition_freshness"] == [{"column": "event_ts", "max_lag_hours": 6}]
    assert "3,000 rows profiled" in text

    result = validate_partition(df, suite, partition=DAY)
    assert result.success, result.failures


def _day(spark, first_id: int, versions: list[str]):
    """A partition of events whose ids grow day by day and whose app versions follow the releases."""
    array = ", ".join(f"'{v}'" for v in versions)
    return spark.range(first_id, first_id + 2000).selectExpr(
        "id as event_seq",                                   # increasing: tomorrow's are all new
        "cast(id % 997 + first_user as bigint) as user_id".replace("first_user", str(first_id // 3)),
        f"element_at(array({array}), cast(id % {len(versions)} + 1 as int)) as app_version",
        "cast(id % 5 as int) as items",
        "cast(rand(3) * 100 + 1 as double) as price",
    )


def test_suggested_suite_still_passes_on_the_next_partition(spark):
    """Bounds only where a column's nature supports them: ids and growing numbers get none, versions a
    pattern; so the suite written from today's partition passes tomorrow's, new ids and a new release
    included, and it says why for every choice."""
    today = _day(spark, 1_000_000, ["web", "10.2", "10.3"])
    tomorrow = _day(spark, 1_002_000, ["web", "10.3", "10.4", "11.0"])
    text = suggest_suite(today, "events")
    suite = parse_suite(text, "events.yml")
    between = {e.kwargs["column"]: e.kwargs for e in suite.expectations
               if e.name == "expect_column_values_to_be_between"}
    assert "event_seq" not in between and "user_id" not in between
    assert between["items"] == {"column": "items", "min_value": 0, "max_value": 4}
    assert between["price"] == {"column": "price", "min_value": 0}
    assert not any(e.name == "expect_column_values_to_be_in_set" and e.kwargs["column"] == "app_version"
                   for e in suite.expectations)
    assert "# no min/max on user_id: an identifier" in text and "a pattern, so the next release" in text
    assert validate_partition(today, suite, partition=DAY).success
    result = validate_partition(tomorrow, suite, partition=DAY + dt.timedelta(days=1))
    assert result.success, result.failures
