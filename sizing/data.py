"""What sizing reads: a pair's client and warehouse counts per monitored slice and day (and per leaf,
for the breakdown), and which slice-days are not steady state.

A slice-day is left out of the steady-state figures (its loss is listed apart, as an incident loss) when

- the alert book (`mq_alerts`) holds an alert that was firing that day (first to last partition) on
  the pair or on one of its two metrics whose slice *overlaps* this one: the same slice, an ancestor
  (an alert on the total covers every slice), a descendant (android & app 10.3 losing events is part of
  android's and the total's count that day) or a slice across another dimension that shares events
  (no dimension on which the two name different values);
- an expectation or freshness alert was firing on one of the pair's tables (a table-wide problem);
- the latest pull of one of the pair's tables was missing or in error;
- the day is a holiday of the calendar (traffic and capture are not ordinary).

The incident book groups alerts into incidents (`mq_incidents.thread_key` = `mq_alerts.thread_key`),
so every incident's days are covered by its alerts' days; reading the alerts directly also covers
alerts that were suppressed (silenced, inhibited) and never became an incident of their own.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from alerting import schema as alert_schema
from core.errors import MqError

SLICE_KINDS = ("anomaly", "discrepancy")      # alerts whose labels name a slice of the metric
TOTAL = "(total)"


@dataclass(frozen=True)
class SizingSettings:
    """The part of the config sizing reads, for one pair."""
    pair: str
    client: str                              # the client metric (numerator)
    warehouse: str                           # the warehouse metric: the reported count
    dimensions: tuple[str, ...]              # the leaves' dimensions
    groupings: tuple[str, ...]               # stored `grouping` of each monitored slice set ("" = total)
    tables: frozenset[str] = frozenset()
    holidays: Mapping[dt.date, str] = field(default_factory=dict)
    version_dimension: str | None = None     # app releases: compared before/after rollout (`sizing.rollout`)
    client_table: str = ""
    arrival_lags: tuple[int, ...] = ()       # the client table's completeness curve (sizing.lateness)

    @classmethod
    def from_config(cls, config, pair: str | None = None) -> "SizingSettings":
        """`pair`: a configured pair's name; None takes the only one (an error names them when several)."""
        names = sorted(config.pairs)
        if pair is None:
            if len(names) != 1:
                raise MqError(f"report sizing: --pair is required when the config has several pairs: {names}")
            pair = names[0]
        if pair not in config.pairs:
            raise MqError(f"report sizing --pair: unknown pair {pair!r}; pairs: {names}")
        spec = config.pairs[pair]
        dims = config.metric_dimensions(spec.client)
        groupings = [",".join(d for d in dims if d in s) for s in config.slices if set(s) <= set(dims)]
        client_table = config.metrics[spec.client].table
        curve = config.tables[client_table].completeness_curve
        return cls(pair, spec.client, spec.warehouse, tuple(dims), tuple(dict.fromkeys(groupings)),
                   frozenset({client_table, config.metrics[spec.warehouse].table}),
                   {h.date: h.name for h in config.calendar.holidays}, spec.version_dimension,
                   client_table, tuple(curve.lags_days) if curve else ())

    @property
    def leaf_grouping(self) -> str:
        return ",".join(self.dimensions)


@dataclass(frozen=True)
class PairCounts:
    """Counts of one pair over [start, end].

    `slices`: one row per monitored slice and day: slice_key, grouping, labels, partition, client,
    warehouse, excluded (bool), reason (why excluded, "" if not). `leaves`: the same per leaf (full
    dimension combination), with one column per dimension."""
    settings: SizingSettings
    start: dt.date
    end: dt.date
    slices: pd.DataFrame
    leaves: pd.DataFrame

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=k) for k in range((self.end - self.start).days + 1)]


def read_counts(settings: SizingSettings, store, start: dt.date, end: dt.date) -> PairCounts:
    """The pair's counts from the metric store (latest version of every partition) with each
    slice-day's exclusion; `store` is a `metricstore.MetricStore`."""
    groupings = list(dict.fromkeys([*settings.groupings, settings.leaf_grouping]))
    points = store.points([settings.client, settings.warehouse], start, end, groupings=groupings)
    wide = _pair_rows(settings, points)
    table_days = _table_wide_exclusions(settings, store, start, end)
    firing = alerts_by_day(slice_alerts(settings, store.engine, start, end), start, end)
    reasons = [exclusion_reason(row.labels, row.partition, table_days, firing.get(row.partition, ()))
               for row in wide.itertuples()]
    wide["reason"] = reasons
    wide["excluded"] = wide.reason != ""
    is_leaf = wide.grouping == settings.leaf_grouping
    monitored = wide[wide.grouping.isin(settings.groupings)].reset_index(drop=True)
    leaves = wide[is_leaf].reset_index(drop=True)
    for d in settings.dimensions:
        leaves[d] = [lab.get(d, "") for lab in leaves.labels]
    return PairCounts(settings, start, end, monitored, leaves)


def _pair_rows(settings: SizingSettings, points: pd.DataFrame) -> pd.DataFrame:
    """One row per slice and day with both sides' counts. A slice-day with no client point counts 0
    client events (nothing was logged); one with no warehouse point is left out (no reported count)."""
    cols = ["slice_key", "grouping", "labels", "partition", "client", "warehouse"]
    if points.empty:
        return pd.DataFrame(columns=cols)
    points = points.assign(partition=pd.to_datetime(points.partition).dt.date)
    client = points[points.metric == settings.client][["slice_key", "partition", "value"]]
    warehouse = points[points.metric == settings.warehouse]
    merged = warehouse.merge(client, on=["slice_key", "partition"], how="left", suffixes=("_w", "_c"))
    out = pd.DataFrame({"slice_key": merged.slice_key, "grouping": merged.grouping,
                        "labels": [dict(x or {}) for x in merged.labels], "partition": merged.partition,
                        "client": merged.value_c.fillna(0.0).astype(float),
                        "warehouse": merged.value_w.fillna(0.0).astype(float)})
    return out.sort_values(["grouping", "slice_key", "partition"]).reset_index(drop=True)[cols]


def _table_wide_exclusions(settings: SizingSettings, store, start: dt.date, end: dt.date) -> dict[dt.date, str]:
    """Day -> reason for the days excluded on every slice: holidays, missing or failed pulls, and
    expectation or freshness alerts on the pair's tables."""
    out: dict[dt.date, str] = {}
    for day, name in settings.holidays.items():
        if start <= day <= end:
            out[day] = f"holiday: {name}"
    for r in store.unreplaced_bad_pulls(settings.tables, start, end).itertuples():
        out.setdefault(_day(r.partition), f"{r.table_name} pull {r.status}")
    a = alert_schema.alerts
    q = sa.select(a.c.kind, a.c.table_name, a.c.first_partition, a.c.last_partition, a.c.id).where(
        a.c.kind.not_in(SLICE_KINDS), a.c.table_name.in_(sorted(settings.tables)),
        a.c.first_partition <= end, a.c.last_partition >= start)
    with store.engine.connect() as conn:
        for r in conn.execute(q):
            for day in _span(_day(r.first_partition), _day(r.last_partition), start, end):
                out.setdefault(day, f"{r.kind} alert on {r.table_name} ({r.id})")
    return out


def slice_alerts(settings: SizingSettings, engine: sa.Engine, start: dt.date, end: dt.date) -> list[dict]:
    """Anomaly and discrepancy alerts on the pair or its metrics firing in [start, end]: id, subject,
    labels, first and last day."""
    a = alert_schema.alerts
    subjects = [settings.pair, settings.client, settings.warehouse]
    q = sa.select(a.c.id, a.c.kind, a.c.subject, a.c.labels, a.c.first_partition, a.c.last_partition).where(
        a.c.kind.in_(SLICE_KINDS), a.c.subject.in_(subjects), a.c.first_partition <= end,
        a.c.last_partition >= start)
    with engine.connect() as conn:
        return [{"id": r.id, "kind": r.kind, "subject": r.subject, "labels": dict(r.labels or {}),
                 "first": _day(r.first_partition), "last": _day(r.last_partition)} for r in conn.execute(q)]


def alerts_by_day(alerts: Iterable[dict], start: dt.date, end: dt.date) -> dict[dt.date, list[dict]]:
    """Day -> the alerts firing that day (in the order given), so a slice-day looks at those alone."""
    out: dict[dt.date, list[dict]] = {}
    for alert in alerts:
        for day in _span(alert["first"], alert["last"], start, end):
            out.setdefault(day, []).append(alert)
    return out


def overlaps(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """Two slices share events unless some dimension is named by both with different values."""
    return all(b[k] == v for k, v in a.items() if k in b)


def exclusion_reason(labels: Mapping[str, str], day: dt.date, table_days: Mapping[dt.date, str],
                     alerts: Iterable[dict]) -> str:
    """Why this slice-day is not steady state ("" when it is)."""
    if day in table_days:
        return table_days[day]
    for alert in alerts:
        if alert["first"] <= day <= alert["last"] and overlaps(alert["labels"], labels):
            where = " & ".join(f"{k}={v}" for k, v in alert["labels"].items()) or "all"
            return f"{alert['kind']} alert on {alert['subject']} [{where}] ({alert['id']})"
    return ""


def _span(first: dt.date, last: dt.date, start: dt.date, end: dt.date) -> list[dt.date]:
    lo, hi = max(first, start), min(last, end)
    return [lo + dt.timedelta(days=k) for k in range((hi - lo).days + 1)]


def _day(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
