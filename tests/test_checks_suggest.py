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
