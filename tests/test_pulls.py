"""Spark SQL pulls: every slice from one scan, equal to a plain GROUP BY, with clear errors."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from mq.config import Config
from mq.errors import PullError
from pulls import pull_partition, register_tables
from pulls.pull import pull_partitions

DAY = dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def events_path(spark, tmp_path_factory):
    path = tmp_path_factory.mktemp("pulls") / "events"
    rows = [(f"e{i}", ["ios", "android", "web"][i % 3], ["US", "IN"][i % 2], None if i % 7 == 0 else f"u{i % 5}",
             (DAY - dt.timedelta(days=i % 2)).isoformat()) for i in range(600)]
    (spark.createDataFrame(rows, "event_id string, platform string, country string, user_id string, ds string")
     .write.partitionBy("ds").parquet(str(path)))
    return path


def make_config(path, **metric) -> Config:
    return Config.model_validate({
        "dimensions": ["platform", "country"], "slices": [[], ["platform"], ["country"]],
        "tables": {"events": {"path": str(path)}},
        "metrics": {"events_n": {"table": "events", **metric},
                    "ios_n": {"table": "events", "expression": "COUNT(*)", "where": "platform = 'ios'"}}})


def test_every_slice_matches_a_plain_group_by(spark, events_path):
    config = make_config(events_path, expression="COUNT(*)")
    register_tables(spark, config)
    result = pull_partition(spark, config, "events", DAY)
    raw = spark.read.parquet(str(events_path)).where(f"ds = '{DAY}'").toPandas()
    points = result.points.set_index(["metric", "slice_key"]).value
    assert points[("events_n", "(total)")] == len(raw)
    for (platform, country), n in raw.groupby(["platform", "country"]).size().items():
        assert points[("events_n", f"platform={platform}&country={country}")] == n
    for platform, n in raw.groupby("platform").size().items():
        assert points[("events_n", f"platform={platform}")] == n
    assert points[("ios_n", "(total)")] == (raw.platform == "ios").sum()
    assert result.row_count == len(raw)
    assert set(result.points.grouping) == {"", "platform", "country", "platform,country"}


def test_distinct_counts_are_computed_from_raw_rows(spark, events_path):
    config = make_config(events_path, expression="COUNT(DISTINCT user_id)", additive=False)
    register_tables(spark, config)
    result = pull_partition(spark, config, "events", DAY)
    raw = spark.read.parquet(str(events_path)).where(f"ds = '{DAY}'").toPandas()
    points = result.points.set_index(["metric", "slice_key"]).value
    assert points[("events_n", "(total)")] == raw.user_id.nunique()
    assert points[("events_n", "platform=web")] == raw[raw.platform == "web"].user_id.nunique()


def test_completeness_evidence(spark, events_path):
    config = make_config(events_path, expression="COUNT(*)")
    register_tables(spark, config)
    ev = pull_partition(spark, config, "events", DAY).evidence
    assert ev["input_files"] and all(f["file"].endswith(".parquet") and f"/ds={DAY}/" in f["file"]
                                     for f in ev["input_files"])
    raw = spark.read.parquet(str(events_path)).where(f"ds = '{DAY}'")
    assert ev["row_count"] == raw.count()
    assert sorted(f["file"] for f in ev["input_files"]) == sorted(f for f in raw.inputFiles() if f"/ds={DAY}/" in f)
    assert len(ev["sql_hash"]) == 64 and ":ds" in ev["sql_text"]
    assert DAY.isoformat() not in ev["sql_text"]   # the partition is a bound parameter
    assert ev["spark_app_id"]


def test_missing_partition_is_reported_not_zero(spark, events_path):
    config = make_config(events_path, expression="COUNT(*)")
    register_tables(spark, config)
    result = pull_partition(spark, config, "events", DAY + dt.timedelta(days=5))
    assert result.status == "missing" and result.points.empty and result.evidence["input_files"] == []


def test_sql_error_names_the_metric(spark, events_path):
    config = make_config(events_path, expression="COUNT(no_such_column)")
    register_tables(spark, config)
    with pytest.raises(PullError, match=r"metrics\.events_n\.expression: Spark SQL error"):
        pull_partition(spark, config, "events", DAY)


def test_unknown_dimension_column_is_named(spark, events_path):
    config = make_config(events_path, expression="COUNT(*)", dimensions=["platform", "os_version"])
    register_tables(spark, config)
    with pytest.raises(PullError, match=r"metrics\.events_n\.dimensions: column 'os_version' not found"):
        pull_partition(spark, config, "events", DAY)


def test_missing_table_path_is_named(spark, tmp_path):
    config = make_config(tmp_path / "nowhere", expression="COUNT(*)")
    with pytest.raises(PullError, match=r"tables\.events\.path: .*nowhere.* does not exist"):
        register_tables(spark, config)


def test_null_dimension_values_get_their_own_slice(spark, tmp_path):
    path = tmp_path / "t"
    spark.createDataFrame([("a", None, "2026-03-02"), ("b", "US", "2026-03-02")],
                          "event_id string, country string, ds string").write.partitionBy("ds").parquet(str(path))
    config = Config.model_validate({"dimensions": ["country"], "slices": [[], ["country"]],
                                    "tables": {"t": {"path": str(path)}},
                                    "metrics": {"n": {"table": "t"}}})
    register_tables(spark, config)
    points = pull_partition(spark, config, "t", DAY).points.set_index("slice_key").value
    assert points["country=(null)"] == 1 and points["country=US"] == 1 and points["(total)"] == 2
    assert isinstance(points, pd.Series)


def test_range_pull_equals_one_pull_per_partition(spark, events_path):
    from pulls.pull import pull_range

    config = make_config(events_path, expression="COUNT(DISTINCT user_id)", additive=False)
    register_tables(spark, config)
    start, end = DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=1)
    ranged = {r.partition: r for r in pull_range(spark, config, "events", start, end)}
    assert [ranged[d].status for d in sorted(ranged)] == ["ok", "ok", "missing"]
    for day in (start, DAY):
        alone = pull_partition(spark, config, "events", day)
        assert ranged[day].evidence["content_hash"] == alone.evidence["content_hash"]
        assert ranged[day].row_count == alone.row_count
        assert ranged[day].evidence["input_files"] == alone.evidence["input_files"]


def test_late_rows_make_a_new_version_marked_late(spark, tmp_path, sqlite_url):
    """A re-pull after more rows landed stores version 2, keeps version 1, and says it was late."""
    from mq.pipeline import Pipeline

    path = tmp_path / "t"
    write = lambda rows, mode: spark.createDataFrame(rows, "event_id string, ds string").write.mode(mode) \
        .partitionBy("ds").parquet(str(path))  # noqa: E731
    write([("a", DAY.isoformat())], "overwrite")
    config = Config.model_validate({"tables": {"t": {"path": str(path)}}, "metrics": {"n": {"table": "t"}},
                                    "alerting": {"receivers": [{"name": "local", "file": str(tmp_path / "s")}]}})
    pipe = Pipeline(config, spark=spark, state_url=sqlite_url)
    first = pipe.pull(DAY)[0]
    assert (first["version"], first.get("late")) == (1, None)
    write([("b", DAY.isoformat()), ("c", DAY.isoformat())], "append")
    pipe.refresh_tables()   # a new run lists the files again
    second = pipe.pull(DAY)[0]
    assert second["version"] == 2 and second["row_count"] == 3
    assert second["late"] == {"previous_version": 1, "previous_rows": 1}
    assert pipe.store.points(["n"], DAY, DAY, version=1).value.tolist() == [1.0]
    assert any(r.payload.get("late") for r in pipe.ledger.records(kind="pull"))


def test_rare_dimension_values_fold_into_other(spark, tmp_path):
    path = tmp_path / "t"
    rows = [(f"e{i}", "10.0" if i < 95 else f"9.{i}", "2026-03-02") for i in range(100)]
    spark.createDataFrame(rows, "event_id string, app_version string, ds string").write.partitionBy("ds").parquet(str(path))
    config = Config.model_validate({"dimensions": ["app_version"], "slices": [[], ["app_version"]],
                                    "tables": {"t": {"path": str(path), "min_slice_rows": 3}},
                                    "metrics": {"n": {"table": "t"}}})
    register_tables(spark, config)
    points = pull_partition(spark, config, "t", DAY).points.set_index("slice_key").value.to_dict()
    assert points == {"(total)": 100.0, "app_version=10.0": 95.0, "app_version=(other)": 5.0}


def test_cardinality_guard_keeps_the_most_frequent_values(spark, tmp_path):
    """Above `max_dimension_values` only the most frequent values keep a slice; the rest fold into
    (other), the distinct counts too, and the pull says how many values the dimension had."""
    path = tmp_path / "t"
    agents = ["a"] * 4 + ["b"] * 3 + ["c", "d", "e"]
    rows = [(f"e{i}", agent, f"u{i % 4}", "2026-03-02") for i, agent in enumerate(agents)]
    (spark.createDataFrame(rows, "event_id string, user_agent string, user_id string, ds string")
     .write.partitionBy("ds").parquet(str(path)))
    config = Config.model_validate({"dimensions": ["user_agent"], "slices": [[], ["user_agent"]],
                                    "tables": {"t": {"path": str(path), "max_dimension_values": 2}},
                                    "metrics": {"n": {"table": "t"},
                                                "users": {"table": "t", "expression": "COUNT(DISTINCT user_id)",
                                                          "additive": False}}})
    register_tables(spark, config)
    for result in (pull_partition(spark, config, "t", DAY), pull_partitions(spark, config, "t", DAY, DAY)[0]):
        points = result.points.set_index(["metric", "slice_key"]).value.to_dict()
        assert {k: v for k, v in points.items() if k[0] == "n"} == {
            ("n", "(total)"): 10.0, ("n", "user_agent=a"): 4.0, ("n", "user_agent=b"): 3.0,
            ("n", "user_agent=(other)"): 3.0}
        assert points[("users", "user_agent=(other)")] == 3.0    # u0, u1, u3 among c, d, e
        assert result.evidence["dimension_values"] == {"user_agent": 5}


def test_cardinality_cap_is_validated_on_load():
    with pytest.raises(ValueError, match="max_dimension_values"):
        Config.model_validate({"tables": {"t": {"path": "/x", "max_dimension_values": 0}}})


def test_a_capped_dimension_warns_the_tables_owner(tmp_path, migrated_store_url):
    """The pull's count of values above the cap becomes one warning, routed by the table's owner."""
    from mq.pipeline import Pipeline

    config = Config.model_validate({
        "workdir": str(tmp_path), "dimensions": ["user_agent"], "slices": [[], ["user_agent"]],
        "tables": {"t": {"path": "/x", "owner": "web", "max_dimension_values": 2}},
        "metrics": {"n": {"table": "t"}},
        "alerting": {"receivers": [{"name": "all", "file": "all.jsonl"}, {"name": "web", "file": "web.jsonl"}],
                     "route": {"receiver": "all", "routes": [{"matchers": {"team": "web"}, "receiver": "web"}]}}})
    pipe = Pipeline(config, state_url=migrated_store_url)
    pipe.store.record_pull({"table_name": "t", "partition": DAY, "status": "ok", "row_count": 10,
                            "input_files": [{"file": "f", "rows": 10}], "content_hash": "c",
                            "dimension_values": {"user_agent": 5}}, None)
    pipe.alert(DAY)
    (alert,) = pipe.alerts.alerts()
    assert (alert["severity"], alert["team"], alert["receiver"]) == ("warning", "web", "web")
    assert alert["labels"] == {"table": "t", "expectation": "dimension_cardinality", "dimension": "user_agent"}
    assert "dimension user_agent of t had 5 values on 2026-03-02, above the cap of 2" in alert["message"]
    (queued,) = pipe.outbox.items()     # the message's title says it too, not "expectation failed"
    assert queued.title.startswith("dimension user_agent of t had 5 values")
