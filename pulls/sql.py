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
OTHER_LABEL = "(other)"


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
                groupings: list[list[str]], metrics: list[MetricColumn], *,
                date_range: bool = False, fold_below: int = 0) -> PullQuery:
    """One partition (`:ds`), or with `date_range` every partition in [`:start`, `:end`] at once,
    grouped by the partition column too: a backfill then costs one scan per table, not one per day.

    `fold_below`: a dimension value with fewer rows than this in a partition is reported as
    `(other)`, so rare values (a long tail of app versions) do not each become a slice. The threshold
    is the bound parameter `:fold_below`; folding works on the leaves, inside the same scan."""
    dims = tuple(dimensions)
    keys = (partition_column,) if date_range else ()
    sets = tuple(dict.fromkeys(tuple(d for d in dims if d in g) for g in groupings))
    key_sets = [keys + g for g in sets]
    dim_select = ", ".join([*keys, *(f"COALESCE(CAST({d} AS STRING), '{NULL_LABEL}') AS {d}" for d in dims)])
    additive = [m for m in metrics if m.additive]
    distinct = [m for m in metrics if not m.additive]
    where = f"{partition_column} BETWEEN :start AND :end" if date_range else f"{partition_column} = :ds"
    leaf_cols = ", ".join(["COUNT(*) AS __rows"] + [f"{m.aggregate} AS m_{m.name}" for m in additive])
    re_agg = ", ".join(["SUM(__rows) AS __rows"] + [f"SUM(m_{m.name}) AS m_{m.name}" for m in additive])
    group_cols = [*keys, *dims]
    leaf_group = f" GROUP BY {', '.join(group_cols)}" if group_cols else ""
    outer = (", ".join(group_cols) + ", ") if group_cols else ""
    grouping = f"\nGROUP BY GROUPING SETS ({_grouping_sets(key_sets)})" if dims else (
        f"\nGROUP BY {', '.join(keys)}" if keys else "")
    leaves = (f"WITH leaves AS (\n  SELECT {dim_select + ', ' if dim_select else ''}{leaf_cols}\n"
              f"  FROM {table} WHERE {where}{leaf_group}\n)")
    if fold_below and dims:
        if distinct:
            raise ValueError(f"table {table!r}: folding rare slices works for additive metrics only; "
                             f"{[m.name for m in distinct]} are not additive")
        part = f"PARTITION BY {', '.join(keys)}, " if keys else "PARTITION BY "
        folded = ", ".join([*keys, *(f"CASE WHEN SUM(__rows) OVER ({part}{d}) < :fold_below "
                                     f"THEN '{OTHER_LABEL}' ELSE {d} END AS {d}" for d in dims)])
        rest = ", ".join(["__rows"] + [f"m_{m.name}" for m in additive])
        leaves = leaves.replace("WITH leaves AS", "WITH raw_leaves AS") + (
            f",\nleaves AS (\n  SELECT {folded}, {rest}\n  FROM raw_leaves\n)")
    main = f"SELECT {outer}{re_agg}\nFROM leaves{grouping}"
    if not distinct:
        return PullQuery(table=table, dimensions=dims, groupings=sets, sql=f"{leaves}\n{main}")
    # Distinct counts cannot be re-aggregated from leaves: group the raw rows directly.
    raw_dims = ", ".join([*(f"{k} AS __k_{k}" for k in keys), *(f"COALESCE(CAST({d} AS STRING), '{NULL_LABEL}') AS __d_{d}" for d in dims)])
    raw_keys = tuple(f"__k_{k}" for k in keys)
    raw_sets = [raw_keys + tuple(f"__d_{d}" for d in g) for g in sets]
    raw_cols = ", ".join(f"{m.aggregate} AS m_{m.name}" for m in distinct)
    raw_grouping = f"\nGROUP BY GROUPING SETS ({_grouping_sets(raw_sets)})" if dims else (
        f"\nGROUP BY {', '.join(raw_keys)}" if keys else "")
    raw = (f"SELECT {''.join(f'__k_{k} AS {k}, ' for k in keys)}{''.join(f'__d_{d} AS {d}, ' for d in dims)}{raw_cols}\n"
           f"FROM (SELECT {raw_dims + ', ' if raw_dims else ''}* FROM {table} WHERE {where}){raw_grouping}")
    # Dimension values are never NULL after COALESCE, so NULL means "aggregated over".
    join_on = " AND ".join([f"a.{c} <=> b.{c}" for c in group_cols]) or "TRUE"
    sel = ", ".join([f"a.{c}" for c in group_cols] + ["a.__rows"]
                    + [f"a.m_{m.name}" for m in additive] + [f"b.m_{m.name}" for m in distinct])
    sql = f"{leaves},\nadditive AS (\n{main}\n),\nraw AS (\n{raw}\n)\nSELECT {sel}\nFROM additive a JOIN raw b ON {join_on}"
    return PullQuery(table=table, dimensions=dims, groupings=sets, sql=sql)
