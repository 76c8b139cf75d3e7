"""Render the one-scan pull of a table partition as Spark SQL.

All metrics of a table, for the total and every declared slice, come from a single scan: the rows are
first aggregated to the leaves (the full dimension combination), then the small leaf result is
re-aggregated over GROUPING SETS. For additive metrics this returns exactly what a plain
`GROUPING SETS` over the raw rows returns, several times faster (see bench/pull_plans.py). Non-additive
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
                date_range: bool = False, fold_below: int = 0, max_values: int = 0) -> PullQuery:
    """One partition (`:ds`), or with `date_range` every partition in [`:start`, `:end`] at once,
    grouped by the partition column too: a backfill then costs one scan per table, not one per day.

    `fold_below`: a dimension value with fewer rows than this in a partition is reported as
    `(other)`, so rare values (a long tail of app versions) do not each become a slice. The threshold
    is the bound parameter `:fold_below`; folding works on the leaves, inside the same scan.

    `max_values`: the cardinality guard. Only the `:max_values` most frequent values of a dimension
    (by rows in the partition) keep their own slice, the rest fold into `(other)` too, so 50k
    user-agent strings a day cost one slice, not 50k. With either kind of folding the result carries
    `__seen_<dim>`, how many distinct values the partition had, for the guard's warning; everything is
    aggregated in Spark, only the aggregates are collected."""
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
    folding = bool(dims) and bool(fold_below or max_values)
    if folding:
        leaves = _folded_leaves(leaves, keys, dims, additive)
        re_agg += "".join(f", MAX(__seen_{d}) AS __seen_{d}" for d in dims)
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
    if folding:   # raw values as __r_<dim>, their folded value joined in as __d_<dim>
        raw_dims = raw_dims.replace(" AS __d_", " AS __r_")
    source = f"(SELECT {raw_dims + ', ' if raw_dims else ''}* FROM {table} WHERE {where})"
    if folding:
        source = _folded_rows(source, keys, dims)
    raw = (f"SELECT {''.join(f'__k_{k} AS {k}, ' for k in keys)}{''.join(f'__d_{d} AS {d}, ' for d in dims)}{raw_cols}\n"
           f"FROM {source}{raw_grouping}")
    # Dimension values are never NULL after COALESCE, so NULL means "aggregated over".
    join_on = " AND ".join([f"a.{c} <=> b.{c}" for c in group_cols]) or "TRUE"
    seen = [f"a.__seen_{d}" for d in dims] if folding else []
    sel = ", ".join([f"a.{c}" for c in group_cols] + ["a.__rows"] + seen
                    + [f"a.m_{m.name}" for m in additive] + [f"b.m_{m.name}" for m in distinct])
    if folding:
        leaves += f",\nfolds AS (\n  SELECT DISTINCT {', '.join([*(f'{k} AS __fk_{k}' for k in keys), *(f'__v_{d}, {d} AS __f_{d}' for d in dims)])}\n  FROM leaves\n)"
    sql = f"{leaves},\nadditive AS (\n{main}\n),\nraw AS (\n{raw}\n)\nSELECT {sel}\nFROM additive a JOIN raw b ON {join_on}"
    return PullQuery(table=table, dimensions=dims, groupings=sets, sql=sql)


def _folded_leaves(leaves: str, keys: tuple[str, ...], dims: tuple[str, ...], additive: list[MetricColumn]) -> str:
    """The leaves with each dimension value folded into `(other)` when it has fewer than `:fold_below`
    rows or is not among the `:max_values` most frequent values of its dimension (ties broken by the
    value, so a re-run folds the same values). Each leaf keeps its raw value as `__v_<dim>` (for the
    distinct counts) and the number of values its dimension had as `__seen_<dim>`."""
    by_key = f"PARTITION BY {', '.join(keys)}" if keys else ""
    def by(d: str) -> str:
        return f"PARTITION BY {', '.join([*keys, d])}"
    counted = ", ".join(f"SUM(__rows) OVER ({by(d)}) AS __n_{d}" for d in dims)
    ranked = ", ".join(f"DENSE_RANK() OVER ({by_key} ORDER BY __n_{d} DESC, {d}) AS __r_{d}" for d in dims)
    folded = ", ".join([*keys, *(f"CASE WHEN __n_{d} < :fold_below OR __r_{d} > :max_values "
                                 f"THEN '{OTHER_LABEL}' ELSE {d} END AS {d}, {d} AS __v_{d}, "
                                 f"MAX(__r_{d}) OVER ({by_key}) AS __seen_{d}" for d in dims)])
    rest = ", ".join(["__rows"] + [f"m_{m.name}" for m in additive])
    return (leaves.replace("WITH leaves AS", "WITH raw_leaves AS")
            + f",\nranked_leaves AS (\n  SELECT *, {ranked}\n  FROM (SELECT *, {counted} FROM raw_leaves)\n)"
            + f",\nleaves AS (\n  SELECT {folded}, {rest}\n  FROM ranked_leaves\n)")


def _folded_rows(source: str, keys: tuple[str, ...], dims: tuple[str, ...]) -> str:
    """The raw rows with their dimension values folded as their leaf's were (a join on the small `folds`
    table), so a distinct count of `(other)` counts over every row that was folded."""
    on = " AND ".join([*(f"r.__k_{k} = f.__fk_{k}" for k in keys), *(f"r.__r_{d} = f.__v_{d}" for d in dims)])
    folded = ", ".join(f"f.__f_{d} AS __d_{d}" for d in dims)
    return f"(SELECT {folded}, r.* FROM {source} r JOIN folds f ON {on})"
