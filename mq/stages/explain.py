"""Diagnosis of a client/warehouse discrepancy on one partition: what is missing, whether anything is
abnormal at all, which slices explain it, which side is wrong, and by how many events.

Per leaf (full dimension combination): expected client count = warehouse count x the leaf's baseline
capture ratio, pooled over the previous `BASELINE_DAYS` clean days (holidays and days on which any slice
of the pair was anomalous are left out, so one incident does not hide the next). The localiser finds
the fewest slices that explain the gap (or "all slices" when every leaf moved); `rootcause.side`
compares each side with its own history on those slices; the impact is stated on the side that moved.

A discrepancy that lasts is judged as one incident (`incident_days`): from its onset (the start a
drift detector recorded, or the first of the run of consecutive days the pair was flagged the same
way as today) to today. Baselines then hold only clean days before the onset, so a slow drift does
not hide in its own first days, and the side is judged on the incident's days pooled. The impact is
stated for today and, for an incident of several days, over all of them (`incident_impact`).

Said before any cause, in this order: a side with no data today is a missing partition (not a ratio
of 0 or infinity); a day the detectors found normal, or a holiday, is "within normal variation" with
its interval and no cause.

Every function here takes small typed inputs: `ExplainSettings` (the config's part it reads) and the
metric store whose points and detections it reads; nothing is written. `pipeline_diagnosis` is
`diagnose_pair` on a pipeline's config and store (`mq explain`); the alert stage's root causes
(`mq.stages.alert.pipeline_explain`) call `explain_pair` the same way.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rootcause import estimate_impact, forecast_share, localize, material
from rootcause.model import leaves_in
from rootcause.side import attribute_side

BASELINE_DAYS = 28          # clean days whose capture ratio per leaf is the baseline
# Clean days each side is compared with (rootcause.side): more than the leaves' baseline, since a
# lasting incident's days lie beyond the history's end and its trend is extrapolated to them.
SIDE_HISTORY_DAYS = 56
MAX_INCIDENT_DAYS = 28      # how far back the onset of a lasting discrepancy is looked for


@dataclass(frozen=True)
class ExplainSettings:
    """The part of the config root causes read."""
    pairs: Mapping[str, tuple[str, str]] = field(default_factory=dict)    # pair -> (client, warehouse) metric
    dimensions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # metric -> its leaves' dimensions
    holidays: Mapping[dt.date, str] = field(default_factory=dict)         # day -> the holiday's name

    @classmethod
    def from_config(cls, config) -> "ExplainSettings":
        return cls({name: (p.client, p.warehouse) for name, p in config.pairs.items()},
                   {m: tuple(config.metric_dimensions(m)) for m in config.metrics},
                   {h.date: h.name for h in config.calendar.holidays})


@dataclass(frozen=True)
class Diagnosis:
    """`status`: "explained", "normal" (nothing abnormal: no cause), "missing" (a side has no data),
    "no_data" (nothing pulled for the day) or "no_history" (nothing to compare with)."""

    status: str
    summary: str
    causes: tuple[dict, ...] = ()
    impact: dict | None = None
    totals: dict = field(default_factory=dict)


def pair_history(settings: ExplainSettings, store, pair_name: str, partition: dt.date,
                 since: dt.date | None = None) -> tuple[pd.DataFrame, list[str], set]:
    """(one row per leaf and day: slice_key, partition, client, warehouse, and the dimensions;
    the dimensions; the days to leave out of baselines). `since`: the incident's onset (default
    `partition`); the history reaches `SIDE_HISTORY_DAYS` before it."""
    client, warehouse = settings.pairs[pair_name]
    dims = list(settings.dimensions[client])
    start = (since or partition) - dt.timedelta(days=SIDE_HISTORY_DAYS)
    pts = store.points([client, warehouse], start, partition, groupings=[",".join(dims)])
    bad = set(settings.holidays)
    det = store.detections(pair_name, start, partition - dt.timedelta(days=1))
    if not det.empty:   # days of earlier discrepancies would drag the baseline towards the incident
        bad |= set(det[det.status == "anomaly"].partition)
    if pts.empty:
        return pd.DataFrame(), dims, bad
    wide = pts.pivot_table(index=["slice_key", "partition"], columns="metric", values="value").reset_index()
    wide = wide.rename(columns={client: "client", warehouse: "warehouse"})
    for side in ("client", "warehouse"):
        if side not in wide:
            wide[side] = 0.0
    wide = wide.fillna(0.0)
    labels = pts.drop_duplicates("slice_key").set_index("slice_key").labels
    for d in dims:
        wide[d] = [labels[k].get(d, "") for k in wide.slice_key]
    return wide, dims, bad


def leaves_of_day(wide: pd.DataFrame, dims: list[str], partition: dt.date, bad: set,
                  since: dt.date | None = None) -> pd.DataFrame:
    """One row per leaf: client, warehouse, baseline_client, baseline_warehouse, expected_client.
    The baseline is the clean days of the `BASELINE_DAYS` before `since` (the incident's onset;
    default `partition`)."""
    today = wide[wide.partition == partition].set_index("slice_key")[["client", "warehouse"]]
    onset = since or partition
    past = wide[(wide.partition < onset) & (wide.partition >= onset - dt.timedelta(days=BASELINE_DAYS))
                & ~wide.partition.isin(bad)]
    base = past.groupby("slice_key")[["client", "warehouse"]].sum().add_prefix("baseline_")
    leaves = today.join(base, how="left").fillna(0.0)
    pooled = base.baseline_client.sum() / max(base.baseline_warehouse.sum(), 1.0)
    ratio = (leaves.baseline_client / leaves.baseline_warehouse.where(leaves.baseline_warehouse > 0)).fillna(pooled)
    leaves["expected_client"] = leaves.warehouse * ratio
    first = wide.drop_duplicates("slice_key").set_index("slice_key")
    for d in dims:
        leaves[d] = first.loc[leaves.index, d].to_numpy()
    return leaves.reset_index()


def diagnose_pair(settings: ExplainSettings, store, pair_name: str, partition: dt.date) -> Diagnosis:
    """The diagnosis of `pair_name` on `partition` from the points and detections in `store`."""
    days = incident_days(settings, store, pair_name, partition)
    wide, dims, bad = pair_history(settings, store, pair_name, partition, since=days[0])
    return diagnose(wide, dims, partition, bad, pair_name=pair_name, incident=days,
                    normal=lambda: _within_normal_variation(settings, store, pair_name, partition))


def pipeline_diagnosis(pipe, pair_name: str, partition: dt.date) -> Diagnosis:
    """`diagnose_pair` on the pipeline's config and metric store (`mq explain`)."""
    return diagnose_pair(ExplainSettings.from_config(pipe.config), pipe.store, pair_name, partition)


def incident_days(settings: ExplainSettings, store, pair_name: str, partition: dt.date) -> tuple[dt.date, ...]:
    """The days of the discrepancy `partition` belongs to, from what the detectors stored: `partition`
    and the run of consecutive days before it on which the pair had an anomaly in one of today's
    directions (a timezone shift's two days move the ratio opposite ways: two incidents, not one),
    reaching back to the earliest drift start the detectors stored with those days' anomalies (a
    drift's first days stay under the detector's limit). Holidays are skipped, neither breaking the run nor counted.
    `partition` alone when it was not flagged."""
    start = partition - dt.timedelta(days=MAX_INCIDENT_DAYS)
    found = store.detections(pair_name, start, partition)
    holidays = set(settings.holidays)
    flagged = found[found.status == "anomaly"] if not found.empty else found
    if flagged.empty or not (flagged.partition == partition).any():
        return (partition,)
    directions = {p: set(g.direction.dropna()) for p, g in flagged.groupby("partition")}
    today = directions[partition]
    onset, day = partition, partition - dt.timedelta(days=1)
    while day >= start:
        if day not in holidays:
            if not directions.get(day, set()) & today:
                break
            onset = day
        day -= dt.timedelta(days=1)
    # The drift starts the detectors stored with their anomalies (`mq_detections.drift`) on the run's days.
    run = flagged[pd.to_datetime(flagged.partition).dt.date >= onset]
    for drift in run.drift if "drift" in run else ():
        if isinstance(drift, dict) and drift.get("start"):
            began = dt.date.fromisoformat(str(drift["start"])[:10])
            if start <= began < onset:
                onset = began
    return tuple(onset + dt.timedelta(days=k) for k in range((partition - onset).days + 1)
                 if onset + dt.timedelta(days=k) not in holidays)


def diagnose(wide: pd.DataFrame, dims: list[str], partition: dt.date, bad: set, *, pair_name: str,
             normal=lambda: None, incident: tuple[dt.date, ...] | None = None) -> Diagnosis:
    """The diagnosis from the pair's leaf history (`pair_history`); `normal()` returns the sentence
    for a day the detectors found normal, else None. `incident`: the incident's days (`incident_days`;
    default `partition` alone): baselines end before the first, the side is judged on all of them."""
    incident = tuple(sorted(set(incident or ()) | {partition}))
    today = wide[wide.partition == partition] if not wide.empty else wide
    if today.empty:
        return Diagnosis("no_data", f"no data for {pair_name} on {partition} (was the partition pulled? "
                                    f"try `mq run --date {partition}`)")
    totals = {"client": float(today.client.sum()), "warehouse": float(today.warehouse.sum())}
    for side, other in (("warehouse", "client"), ("client", "warehouse")):
        if totals[side] == 0:
            return Diagnosis("missing", f"the {side} partition {partition} is missing or empty "
                                        f"({other} has {totals[other]:,.0f} events): there is no ratio to "
                                        f"explain until it lands", totals=totals)
    leaves = leaves_of_day(wide, dims, partition, bad, since=incident[0])
    if leaves.baseline_warehouse.sum() <= 0:
        return Diagnosis("no_history", f"no clean history before {partition} to compare with", totals=totals)
    totals["expected_client"] = float(leaves.expected_client.sum())
    sentence = normal()
    if sentence is not None:
        return Diagnosis("normal", sentence, totals=totals)
    # A lasting incident is localised on its days pooled (those both sides reported): a loss of a few
    # percent on a country of a few hundred events a day is lost among one day's leaves, where a
    # single leaf's noise can outweigh it, but not among four days' sums; and every day of the
    # incident then names the same cause. One day alone is the special case.
    pooled = _reported_days(wide, incident)
    located = leaves if len(pooled) < 2 else incident_leaves(wide, dims, pooled, bad)
    # The expected client count is the warehouse count times a ratio over weeks of history, so it
    # is the precise side: each leaf is judged against it (rootcause.forecast_share).
    share = forecast_share(located, denominator="warehouse", baseline_denominator="baseline_warehouse")
    causes = localize(located.assign(__forecast_share=share), dims, real="client", predict="expected_client",
                      max_causes=5, forecast_share="__forecast_share")
    causes = material(causes)
    if not causes:
        return Diagnosis("normal", "no slice explains a deviation: the gap is within normal variation",
                         totals=totals)
    impact = estimate_impact(leaves, causes, observed="client", denominator="warehouse",
                             baseline_numerator="baseline_client", baseline_denominator="baseline_warehouse")
    matched = _matched(leaves, causes)
    # The side is judged on the main cause's slices alone: a small second cause must not dilute it.
    verdict = _side(wide, leaves, _matched(leaves, causes[:1]), incident, bad, outside=~matched)
    impact_dict = _impact_on_side(impact, verdict, leaves, matched, causes)
    impact_dict.update(incident_impact(located, causes, verdict, impact_dict["summary"]))
    as_dicts = tuple({"label": c.label(), "elements": dict(c.elements), "share": round(float(c.share), 4),
                      "confidence": round(float(c.confidence), 4), "observed": float(c.observed),
                      "expected": round(float(c.expected), 2)} for c in causes)
    return Diagnosis("explained", impact_dict["summary"], as_dicts, impact_dict, totals)


def explain_pair(settings: ExplainSettings, store, pair_name: str, partition: dt.date):
    """(root causes as dicts, impact as a dict) or ((), None) when there is nothing to explain."""
    diagnosis = diagnose_pair(settings, store, pair_name, partition)
    return diagnosis.causes, diagnosis.impact


def _within_normal_variation(settings: ExplainSettings, store, pair_name: str, partition: dt.date) -> str | None:
    """The sentence for a day with nothing abnormal (holiday, or no slice flagged), else None."""
    names = settings.holidays
    found = store.detections(pair_name, partition, partition)
    total = found[found.labels.map(lambda labels: not labels)] if not found.empty else found
    interval = ""
    if not total.empty:
        row = total.iloc[0]
        if all(isinstance(v, (int, float)) and np.isfinite(v) for v in (row.observed, row.expected, row.lower, row.upper)):
            interval = (f" (client/warehouse ratio {row.observed:.4f}, expected {row.expected:.4f} "
                        f"[{row.lower:.4f}, {row.upper:.4f}])")
    if partition in names:
        return f"holiday ({names[partition]}): within normal variation{interval}; not alerted, no cause"
    if not found.empty and not (found.status == "anomaly").any():
        return f"within normal variation{interval}: no slice is outside its interval, no cause"
    return None


def _matched(leaves: pd.DataFrame, causes) -> np.ndarray:
    return leaves_in(leaves, (c.elements for c in causes))


def _side(wide: pd.DataFrame, leaves: pd.DataFrame, matched: np.ndarray, incident: tuple[dt.date, ...], bad: set,
          outside: np.ndarray | None = None):
    """Each side on the matched slices, summed over the incident's days (those both sides reported),
    against its clean history of the `SIDE_HISTORY_DAYS` before the onset, or against its share of
    the rest of the table: the slices `outside` every cause (default: outside the matched ones), so
    that a second cause's slices are not the reference (rootcause.side)."""
    keys = set(leaves.slice_key[matched])
    rest_keys = set(leaves.slice_key[~matched if outside is None else outside])
    window = ((wide.partition < incident[0]) & ~wide.partition.isin(bad)
              & (wide.partition >= incident[0] - dt.timedelta(days=SIDE_HISTORY_DAYS)))
    mine = wide[wide.slice_key.isin(keys)]
    daily = mine[window[mine.index]].groupby("partition")[["client", "warehouse"]].sum().sort_index()
    days = [pd.Timestamp(d).date() for d in daily.index]
    pooled = _reported_days(wide, incident)
    now = mine[mine.partition.isin(pooled)]
    rest = None
    if rest_keys:
        others = wide[wide.slice_key.isin(rest_keys)]
        past = others[window[others.index]].groupby("partition")[["client", "warehouse"]].sum().reindex(
            daily.index, fill_value=0.0)
        current = others[others.partition.isin(pooled)].groupby("partition")[["client", "warehouse"]].sum()
        current.index = [pd.Timestamp(d).date() for d in current.index]
        current = current.reindex(sorted(set(pooled)), fill_value=0.0)
        rest = {side: (past[side].to_numpy(), current[side].to_numpy()) for side in ("client", "warehouse")}
    warehouse_daily = now.groupby("partition").warehouse.sum()
    warehouse_daily.index = [pd.Timestamp(d).date() for d in warehouse_daily.index]
    return attribute_side(days, daily.client.to_numpy(), daily.warehouse.to_numpy(), pooled,
                          float(now.client.sum()), float(now.warehouse.sum()), rest=rest,
                          warehouse_daily=warehouse_daily.reindex(sorted(set(pooled)), fill_value=0.0).to_numpy())


def _reported_days(wide: pd.DataFrame, incident: tuple[dt.date, ...]) -> tuple[dt.date, ...]:
    """The incident's days on which both sides reported events (the last day if none did)."""
    sides = wide[wide.partition.isin(incident)].groupby("partition")[["client", "warehouse"]].sum()
    reported = {pd.Timestamp(d).date() for d, row in sides.iterrows() if row.client > 0 and row.warehouse > 0}
    return tuple(d for d in incident if d in reported) or incident[-1:]


def _impact_on_side(impact, verdict, leaves: pd.DataFrame, matched: np.ndarray, causes) -> dict:
    """The impact in the terms of the side that moved: warehouse events over/under-counted when the
    warehouse moved (client events / baseline ratio), client events otherwise."""
    where = "" if any(c.table_wide for c in causes) else " on " + ", ".join(c.label() for c in causes)
    scope = " (all slices)" if not where else where
    events, lower, upper = _events_on_side(impact, verdict, leaves, matched)
    if verdict.side == "warehouse":
        subject = "warehouse"
    elif verdict.side == "client":
        subject = "client"
    elif verdict.side == "both":
        subject = "client and warehouse both moved;"
    else:
        subject = "client (against the warehouse; history cannot tell which side)"
    verb = "over-counted" if events > 0 else "lost" if verdict.side == "client" else "under-counted"
    summary = (f"{subject} {verb} about {_about(abs(events))} events{scope} "
               f"({_about(min(abs(lower), abs(upper)))} to {_about(max(abs(lower), abs(upper)))})")
    return {"events": round(float(events), 1), "lower": round(float(min(lower, upper)), 1),
            "upper": round(float(max(lower, upper)), 1), "share_of_total": round(float(impact.share_of_total), 6),
            "direction": "over" if events > 0 else "under", "side": verdict.side,
            "summary": summary, "evidence": verdict.evidence()}


def _events_on_side(impact, verdict, leaves: pd.DataFrame, matched: np.ndarray) -> tuple[float, float, float]:
    """(events, lower, upper) of `impact` (client events) in the moving side's events: warehouse
    events (client events / baseline ratio, the sign turned) when the warehouse moved."""
    events, lower, upper = impact.events, impact.lower, impact.upper
    if verdict.side != "warehouse":
        return events, lower, upper
    ratio = float(leaves.expected_client[matched].sum()) / max(float(leaves.warehouse[matched].sum()), 1.0)
    return -events / ratio, -upper / ratio, -lower / ratio


def incident_leaves(wide: pd.DataFrame, dims: list[str], days: tuple[dt.date, ...], bad: set) -> pd.DataFrame:
    """`leaves_of_day` for a lasting incident: each leaf's client and warehouse counts summed over
    `days`, against the baselines of the clean days before the first."""
    during = wide.partition.isin(days)
    summed = wide[during].groupby("slice_key", as_index=False)[["client", "warehouse"]].sum()
    labels = wide.drop_duplicates("slice_key").set_index("slice_key")[dims]
    summed = summed.join(labels, on="slice_key").assign(partition=days[-1])
    return leaves_of_day(pd.concat([wide[~during], summed], ignore_index=True), dims, days[-1], bad,
                         since=days[0])


def incident_impact(leaves: pd.DataFrame, causes, verdict, summary: str) -> dict:
    """For a discrepancy judged on several days (`verdict.days`): the events under- or over-counted
    on the causes' slices over all of them, with its interval, as the `incident_*` fields of the
    impact and its `summary` extended with them; {} for one day. `leaves`: the incident's leaves
    summed over those days (`incident_leaves`, the ones the causes were localised on).

    The leaves' counts are summed over the days and the impact estimated on the sums
    (`rootcause.estimate_impact`): the counting noise adds up day by day, while a leaf's baseline
    rate, the same on every day, is one uncertainty scaled by the incident's whole count, not
    independent evidence each day."""
    days = tuple(sorted(verdict.days))
    if len(days) < 2:
        return {}
    impact = estimate_impact(leaves, causes, observed="client", denominator="warehouse",
                             baseline_numerator="baseline_client", baseline_denominator="baseline_warehouse")
    events, lower, upper = _events_on_side(impact, verdict, leaves, _matched(leaves, causes))
    verb = "over-counted" if events > 0 else "lost" if verdict.side == "client" else "under-counted"
    low, high = sorted((abs(lower), abs(upper)))
    return {"incident_days": len(days), "incident_since": days[0].isoformat(), "incident_side": verdict.side,
            "incident_events": round(float(events), 1), "incident_lower": round(float(min(lower, upper)), 1),
            "incident_upper": round(float(max(lower, upper)), 1),
            "summary": f"{summary} today; {verb} about {_about(abs(events))} over the {len(days)} days since "
                       f"{days[0]} ({_about(low)} to {_about(high)})"}


def _about(value: float) -> str:
    """Three significant figures: 14,000 rather than 13,987.4 for an estimate."""
    if value == 0 or not np.isfinite(value):
        return "0"
    digits = int(np.floor(np.log10(abs(value))))
    return f"{round(value, -digits + 2):,.0f}"
