"""Suite files: loading, load-time errors (file, key, line) and the version hash. No Spark needed."""
from __future__ import annotations

import textwrap

import pytest

from checks import SUITES_DIR, load_suite
from mq.errors import ConfigError

GOOD = """\
table: events
expectations:
  - expect_table_row_count_to_be_between: {min_value: 1, max_value: 100}
  - expect_column_values_to_not_be_null: {column: user_id, mostly: 0.98}
  - expect_partition_freshness: {column: event_ts, max_lag_hours: 6}
"""


def write(tmp_path, text: str, name: str = "events.yml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("table", ["client_events", "warehouse_events"])
def test_demo_suites_load_with_every_kind_of_control(table):
    suite = load_suite(SUITES_DIR / f"{table}.yml")
    names = {e.name for e in suite.expectations}
    assert suite.table == table and suite.name == table
    assert {"expect_table_columns_to_match_set", "expect_column_values_to_not_be_null",
            "expect_column_values_to_be_in_set", "expect_table_row_count_to_be_between",
            "expect_column_values_to_be_unique", "expect_partition_freshness"} <= names
    assert len(suite.version_hash) == 64


def test_good_suite_keeps_order_arguments_and_lines(tmp_path):
    suite = load_suite(write(tmp_path, GOOD))
    assert [e.name for e in suite.expectations] == [
        "expect_table_row_count_to_be_between", "expect_column_values_to_not_be_null",
        "expect_partition_freshness"]
    assert suite.expectations[1].kwargs == {"column": "user_id", "mostly": 0.98}
    assert [e.line for e in suite.expectations] == [3, 4, 5]


@pytest.mark.parametrize("text, key, words", [
    ("table: events\nexpectations: [\n  - a: 1\n", "line", "malformed YAML"),
    ("table: events\nexpectations:\n\t- expect_column_to_exist: {column: a}\n", "line 3", "malformed YAML"),
    ("- just\n- a list\n", "<root>", "mapping"),
    ("expectations:\n  - expect_column_to_exist: {column: a}\n", "table", "non-empty string"),
    ("table: events\n", "expectations", "non-empty list"),
    ("table: events\nexpectations: []\n", "expectations", "non-empty list"),
    ("table: events\nchecks: []\nexpectations:\n  - expect_column_to_exist: {column: a}\n", "checks", "unknown key"),
    ("table: events\nexpectations:\n  - expect_column_to_exist: {column: a}\n  - expect_column_values_to_be_uniq: {column: a}\n",
     "expectations[1].expect_column_values_to_be_uniq", "did you mean expect_column_values_to_be_unique"),
    ("table: events\nexpectations:\n  - expect_column_values_to_not_be_null: {column: a, mostly: 1.5}\n",
     "expectations[0].expect_column_values_to_not_be_null.mostly", "less than or equal to 1"),
    ("table: events\nexpectations:\n  - expect_column_values_to_be_in_set: {column: a, values: [x]}\n",
     "expectations[0].expect_column_values_to_be_in_set.values", "unknown argument"),
    ("table: events\nexpectations:\n  - expect_column_values_to_be_unique: {column: a, result_format: COMPLETE}\n",
     "expectations[0].expect_column_values_to_be_unique.result_format", "set by the runner"),
    ("table: events\nexpectations:\n  - expect_partition_freshness: {column: ts, max_lag_hours: -1}\n",
     "expectations[0].expect_partition_freshness.max_lag_hours", "greater than 0"),
    ("table: events\nexpectations:\n  - expect_partition_freshness: {column: ts}\n",
     "expectations[0].expect_partition_freshness.max_lag_hours", "required"),
    ("table: events\nexpectations:\n  - expect_column_to_exist: {column: a}\n    expect_column_values_to_be_unique: {column: a}\n",
     "expectations[0]", "one-key mapping"),
    ("table: events\nexpectations:\n  - expect_column_values_to_be_unique: [a]\n",
     "expectations[0].expect_column_values_to_be_unique", "must be a mapping"),
])
def test_bad_suite_fails_at_load_naming_file_and_key(tmp_path, text, key, words):
    path = write(tmp_path, text, "broken.yml")
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    err = info.value
    assert err.path == str(path)
    assert key in err.key
    assert str(path) in str(err) and words in str(err)


def test_error_names_the_line_of_the_bad_expectation(tmp_path):
    path = write(tmp_path, GOOD.replace("expect_partition_freshness", "expect_partition_freshnes"))
    with pytest.raises(ConfigError, match=r"line 5.*did you mean expect_partition_freshness"):
        load_suite(path)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read suite file") as info:
        load_suite(tmp_path / "nope.yml")
    assert info.value.path.endswith("nope.yml")


def test_hash_changes_with_content_not_with_layout(tmp_path):
    base = load_suite(write(tmp_path, GOOD, "a.yml")).version_hash
    relaid = GOOD.replace("{column: user_id, mostly: 0.98}", "{mostly: 0.98, column: user_id}  # reordered")
    assert load_suite(write(tmp_path, "# a comment\n" + relaid, "b.yml")).version_hash == base
    tightened = GOOD.replace("mostly: 0.98", "mostly: 0.99")
    assert load_suite(write(tmp_path, tightened, "c.yml")).version_hash != base
    reordered = GOOD.splitlines()
    reordered[2], reordered[3] = reordered[3], reordered[2]
    assert load_suite(write(tmp_path, "\n".join(reordered) + "\n", "d.yml")).version_hash != base
