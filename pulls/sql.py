"""Render the one-scan pull of a table partition as Spark SQL.

All metrics of a table, for the total and every declared slice, come from a single scan: the rows are
first aggregated to the leaves (the full dimension combination), then the small leaf result is
re-aggregated over GROUPING SETS. For additive metrics this returns exactly what a plain
`GROUPING SETS` over the raw rows returns, several times faster (see bench/pulls.py). Non-additive
metrics (distinct counts) are computed with GROUPING SETS over the raw rows.

The partition value is always a bound parameter (`:ds`), never pasted into the text. Identifiers
(table, columns) come from the validated config; metric expressions and filters are config-authored
Spark SQL fragments.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

NULL_LABEL = "(null)"


@dataclass(frozen=True)
class MetricColumn:
    name: str
    expression: str
    where: str | None
    additive: bool

    @property
    def aggregate(self) -> str:
        return f"{self.expression} FILTER (WHERE {self.where})" if self.where else self.expression


@dataclass(frozen=True)
class PullQuery:
    table: str
    dimensions: tuple[str, ...]
    groupings: tuple[tuple[str, ...], ...]
    sql: str

    @property
    def sql_hash(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def _grouping_sets(groupings) -> str:
    return ", ".join("(" + ", ".join(g) + ")" for g in groupings)


def render_pull(table: str, partition_column: str, dimensions: list[str],
                groupings: list[list[str]], metrics: list[MetricColumn]) -> PullQuery:
    dims = tuple(dimensions)
    sets = tuple(dict.fromkeys(tuple(d for d in dims if d in g) for g in groupings))
    dim_select = ", ".join(f"COALESCE(CAST({d} AS STRING), '{NULL_LABEL}') AS {d}" for d in dims)
    additive = [m for m in metrics if m.additive]
    distinct = [m for m in metrics if not m.additive]
    where = f"{partition_column} = :ds"
    parts = []
    leaf_cols = ", ".join(["COUNT(*) AS __rows"] + [f"{m.aggregate} AS m_{m.name}" for m in additive])
    re_agg = ", ".join(["SUM(__rows) AS __rows"] + [f"SUM(m_{m.name}) AS m_{m.name}" for m in additive])
    leaf_group = f" GROUP BY {', '.join(dims)}" if dims else ""
    outer_dims = (", ".join(dims) + ", ") if dims else ""
    parts.append(
        f"WITH leaves AS (\n  SELECT {dim_select + ', ' if dims else ''}{leaf_cols}\n"
        f"  FROM {table} WHERE {where}{leaf_group}\n)")
    main = (f"SELECT {outer_dims}{re_agg}\nFROM leaves"
            + (f"\nGROUP BY GROUPING SETS ({_grouping_sets(sets)})" if dims else ""))
    if distinct:
        # Distinct counts cannot be re-aggregated from leaves: group the raw rows directly.
        raw_dims = ", ".join(f"COALESCE(CAST({d} AS STRING), '{NULL_LABEL}') AS __d_{d}" for d in dims)
        raw_sets = [tuple(f"__d_{d}" for d in g) for g in sets]
        raw_cols = ", ".join(f"{m.aggregate} AS m_{m.name}" for m in distinct)
        raw = (f"SELECT {''.join(f'__d_{d} AS {d}, ' for d in dims)}{raw_cols}\n"
               f"FROM (SELECT {raw_dims + ', ' if dims else ''}* FROM {table} WHERE {where})"
               + (f"\nGROUP BY GROUPING SETS ({_grouping_sets(raw_sets)})" if dims else ""))
        # Dimension values are never NULL after COALESCE, so NULL means "aggregated over".
        join_on = " AND ".join([f"a.{d} <=> b.{d}" for d in dims]) or "TRUE"
        sel = ", ".join([f"a.{d}" for d in dims] + ["a.__rows"]
                        + [f"a.m_{m.name}" for m in additive] + [f"b.m_{m.name}" for m in distinct])
        sql = (f"{parts[0]},\nadditive AS (\n{main}\n),\nraw AS (\n{raw}\n)\n"
               f"SELECT {sel}\nFROM additive a JOIN raw b ON {join_on}")
    else:
        sql = f"{parts[0]}\n{main}"
    return PullQuery(table=table, dimensions=dims, groupings=sets, sql=sql)
