"""Metric SQL is parsed and confined on load: one aggregate over the table's own columns; anything that
could read another table or file, or run a statement, is refused at `mq config` time in one line."""
from __future__ import annotations

import pytest

from mq.config import load_config
from mq.errors import ConfigError

BASE = """
tables:
  events: {path: ./events}
metrics:
  n:
    table: events
    expression: "COUNT(*)"
"""


def write(tmp_path, expression: str, where: str | None = None):
    text = BASE.replace('"COUNT(*)"', _yaml(expression)) + (f"    where: {_yaml(where)}\n" if where else "")
    path = tmp_path / "mq.yml"
    path.write_text(text)
    return path


def _yaml(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@pytest.mark.parametrize("expression", [
    "COUNT(*)", "COUNT(DISTINCT user_id)", "SUM(amount) / COUNT(*)", "count_if(platform = 'ios')",
    "SUM(amount) FILTER (WHERE amount > 0)", "approx_count_distinct(user_id)", "try_sum(amount)",
])
def test_aggregates_over_own_columns_load(tmp_path, expression):
    assert load_config(write(tmp_path, expression)).metrics["n"].expression == expression


@pytest.mark.parametrize("expression, reason", [
    ("COUNT(*", "not valid Spark SQL"),
    ("COUNT(*) + (SELECT COUNT(*) FROM other_table)", "a subquery is not allowed"),
    ("COUNT(*) + (SELECT max(v) FROM parquet.`/etc/secrets`)", "a subquery is not allowed"),
    ("COUNT(*); DROP TABLE events", "one expression only, no statements (2 found)"),
    ("DROP TABLE events", "a DROP statement is not allowed"),
    ("SUM(other.amount)", "column other.amount names another relation"),
    ("COUNT(reflect('java.lang.Runtime', 'getRuntime'))", "function reflect() is not allowed"),
    ("COUNT(*) -- FILTER swallowed", "comments are not allowed"),
    ("amount", "must be an aggregate over the rows"),
    ("SUM(amount) OVER ()", "window functions (OVER) are not allowed"),
    ("SUM(amount) + amount", "column amount is outside an aggregate"),
])
def test_a_confined_expression_fails_at_load_naming_the_key(tmp_path, expression, reason):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, expression))
    message = str(err.value)
    assert "\n" not in message
    assert f"mq.yml: metrics.n.expression: {reason}" in message
    assert repr(expression) in message


@pytest.mark.parametrize("where, reason", [
    ("user_id IN (SELECT user_id FROM staff)", "a subquery is not allowed"),
    ("COUNT(*) > 1", "a row filter cannot hold an aggregate"),
    ("platform = 'ios' /* AND 1=0 */", "comments are not allowed"),
])
def test_a_confined_where_fails_at_load(tmp_path, where, reason):
    with pytest.raises(ConfigError, match=rf"metrics\.n\.where: {reason}"):
        load_config(write(tmp_path, "COUNT(*)", where))


def test_a_where_over_own_columns_loads(tmp_path):
    assert load_config(write(tmp_path, "COUNT(*)", "platform = 'ios' AND note = 'a--b'")).metrics["n"].where
