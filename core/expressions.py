"""Metric SQL confined on load: `metrics.*.expression` is one aggregate over the table's own columns,
`metrics.*.where` one row condition; neither may hold a subquery, a table or file reference
(``parquet.`/any/path` ``), a statement, a window, a comment, or a function that reaches outside the
rows (`reflect`, `read_files`...). Parsed with sqlglot's Spark dialect (https://sqlglot.com), so a
mistake is one line at `mq config` time instead of a Spark error mid-run, and a fragment pasted into
the pull can read nothing but the partition's rows.

The text stays as written (its hash is pull evidence); refusing comments closes the one way a
fragment could hide the rest of the generated query from Spark.
"""
from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

# Spark aggregates sqlglot does not model (they parse as anonymous functions).
SPARK_ONLY_AGGREGATES = frozenset({
    "try_sum", "try_avg", "hll_sketch_agg", "hll_union_agg", "count_min_sketch", "bitmap_construct_agg",
    "bitmap_or_agg", "histogram_numeric", "every", "some", "bool_and", "regr_sxy", "regr_syy", "regr_sxx",
})
# Functions that reach outside the rows of the partition: Java reflection, other files, the session.
REFUSED_FUNCTIONS = frozenset({
    "reflect", "java_method", "try_reflect", "read_files", "input_file_name", "input_file_block_start",
    "input_file_block_length", "current_user", "session_user", "user",
})
_NOT_AN_EXPRESSION = (exp.Query, exp.Subquery, exp.Table, exp.From, exp.Join, exp.Lateral, exp.Values, exp.Unnest)
_STATEMENTS = tuple(getattr(exp, name) for name in (
    "DDL", "DML", "Command", "Create", "Drop", "Alter", "Insert", "Update", "Delete", "Merge", "TruncateTable",
    "Set", "Use", "Describe", "Show", "Cache", "Uncache", "Refresh", "Analyze", "Grant", "Revoke",
    "Transaction", "Commit", "Rollback", "Copy", "LoadData", "Pragma") if hasattr(exp, name))


class ExpressionError(ValueError):
    """The fragment is not allowed; `str()` is the one-line reason (the config loader adds file and key)."""


def check_aggregate(sql: str) -> exp.Expression:
    """`metrics.*.expression`: one aggregate (or arithmetic over aggregates) of unqualified columns."""
    tree = _parse(sql)
    aggregates = [n for n in tree.walk() if _is_aggregate(n)]
    if not aggregates:
        raise ExpressionError("must be an aggregate over the rows, e.g. COUNT(*), SUM(amount), "
                              "COUNT(DISTINCT user_id)")
    for node in aggregates:
        if any(_is_aggregate(p) for p in _ancestors(node)):
            raise ExpressionError(f"nested aggregate {node.sql('spark')!r}: one level of aggregation only")
    for column in tree.find_all(exp.Column):   # FILTER (WHERE ...) belongs to its aggregate
        if not any(_is_aggregate(p) or isinstance(p, exp.Filter) for p in _ancestors(column)):
            raise ExpressionError(f"column {column.sql('spark')} is outside an aggregate; a metric is one "
                                  "value per slice")
    return tree


def check_condition(sql: str) -> exp.Expression:
    """`metrics.*.where`: a row condition over unqualified columns, without aggregates."""
    tree = _parse(sql)
    found = next((n for n in tree.walk() if _is_aggregate(n)), None)
    if found is not None:
        raise ExpressionError(f"a row filter cannot hold an aggregate ({found.sql('spark')})")
    return tree


def _parse(sql: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(sql, read="spark") if s is not None]
    except (ParseError, TokenError) as exc:
        raise ExpressionError(f"not valid Spark SQL: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise ExpressionError(f"one expression only, no statements ({len(statements)} found)")
    tree = statements[0]
    if isinstance(tree, _STATEMENTS):
        raise ExpressionError(f"a {tree.key.upper()} statement is not allowed: give one SQL expression")
    for node in tree.walk():
        if isinstance(node, _STATEMENTS):
            raise ExpressionError(f"a {node.key.upper()} statement is not allowed: give one SQL expression")
        if isinstance(node, _NOT_AN_EXPRESSION):
            what = "a subquery" if isinstance(node, (exp.Query, exp.Subquery)) else \
                "a table or file reference" if isinstance(node, (exp.Table, exp.From, exp.Join)) else \
                f"a {type(node).__name__.upper()} statement"
            raise ExpressionError(f"{what} is not allowed: only the table's own columns can be read")
        if isinstance(node, exp.Window):
            raise ExpressionError("window functions (OVER) are not allowed: a metric aggregates a partition")
        if node.comments:
            raise ExpressionError("comments are not allowed in metric SQL")
        name = _function_name(node)
        if name in REFUSED_FUNCTIONS:
            raise ExpressionError(f"function {name}() is not allowed: it reads beyond the partition's rows")
        if isinstance(node, exp.Column) and node.table:
            raise ExpressionError(f"column {node.sql('spark')} names another relation; use the table's "
                                  "own unqualified columns")
    return tree


def _function_name(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return None


def _is_aggregate(node: exp.Expression) -> bool:
    return isinstance(node, exp.AggFunc) or (
        isinstance(node, exp.Anonymous) and str(node.this).lower() in SPARK_ONLY_AGGREGATES)


def _ancestors(node: exp.Expression):
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent
