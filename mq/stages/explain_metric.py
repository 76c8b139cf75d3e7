"""Root causes of a count anomaly: one metric against its own history, localised like a discrepancy.

Per leaf, the expected value today is the leaf's share of the metric over the clean history days
times the metric's total predicted for today by its own history (weekday levels and trend,
`rootcause.side.seasonal_expectation`). The localiser then finds the fewest slices that explain
the difference ("all slices" when the whole table moved), and the impact is today's value on those
slices minus what their own history predicts, with that prediction's interval.

Of small typed inputs like `mq.stages.explain` (its `ExplainSettings`, the metric store).
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

from mq.stages.explain import BASELINE_DAYS, ExplainSettings, _about
from rootcause import localize, material
from rootcause.model import leaves_in
from rootcause.side import seasonal_expectation


def metric_history(settings: ExplainSettings, store, metric: str, partition: dt.date
                   ) -> tuple[pd.DataFrame, list[str], set]:
    """(one row per leaf and day: slice_key, partition, value, dimensions; the dimensions; the days
    to leave out of the history: holidays and earlier anomalies of this metric)."""
    dims = list(settings.dimensions[metric])
    start = partition - dt.timedelta(days=BASELINE_DAYS)
    pts = store.points([metric], start, partition, groupings=[",".join(dims)])
    bad = set(settings.holidays)
    det = store.detections(metric, start, partition - dt.timedelta(days=1))
    if not det.empty:
        bad |= set(det[det.status == "anomaly"].partition)
    if pts.empty:
        return pd.DataFrame(), dims, bad
    frame = pts[["slice_key", "partition", "value"]].copy()
    labels = pts.drop_duplicates("slice_key").set_index("slice_key").labels
    for d in dims:
        frame[d] = [labels[k].get(d, "") for k in frame.slice_key]
    return frame, dims, bad


def localize_count(frame: pd.DataFrame, dims: list[str], partition: dt.date, bad: set, *, metric: str):
    """(root causes as dicts, impact as a dict) for one day of a metric's leaf history; ((), None)
    when there is no history or nothing stands out."""
    if frame.empty:
        return (), None
    partitions = pd.to_datetime(frame.partition).dt.date
    today = frame[partitions == partition].groupby("slice_key").agg(
        {"value": "sum", **{d: "first" for d in dims}})
    past = frame[(partitions < partition) & ~partitions.isin(bad)]
    if today.empty or past.empty:
        return (), None
    daily = past.groupby(pd.to_datetime(past.partition).dt.date)["value"].sum().sort_index()
    predicted = seasonal_expectation(list(daily.index), daily.to_numpy(), partition)
    if predicted is None:
        return (), None
    share = past.groupby("slice_key")["value"].sum() / float(past.value.sum())
    leaves = today.join(share.rename("share"), how="outer").fillna({"value": 0.0, "share": 0.0})
    for d in dims:   # leaves seen only in the history get their labels from it
        missing = leaves[d].isna()
        if missing.any():
            first = past.drop_duplicates("slice_key").set_index("slice_key")[d]
            leaves.loc[missing, d] = first.reindex(leaves.index[missing]).to_numpy()
    leaves["expected"] = leaves.share * predicted[0]
    causes = material(localize(leaves.reset_index(), dims, real="value", predict="expected", max_causes=5))
    if not causes:
        return (), None
    matched = leaves_in(leaves, (c.elements for c in causes))
    keys = set(leaves.index[matched])
    on_causes = past[past.slice_key.isin(keys)]
    history = on_causes.groupby(pd.to_datetime(on_causes.partition).dt.date)["value"].sum().sort_index()
    expected_here = seasonal_expectation(list(history.index), history.to_numpy(), partition)
    observed = float(leaves.value[matched].sum())
    centre, low, high = expected_here if expected_here else (float(leaves.expected[matched].sum()),) * 3
    events, lower, upper = observed - centre, observed - high, observed - low
    where = " (all slices)" if any(c.table_wide for c in causes) else " on " + ", ".join(c.label() for c in causes)
    verb = "more" if events > 0 else "fewer"
    impact = {"events": round(events, 1), "lower": round(lower, 1), "upper": round(upper, 1),
              "share_of_total": round(events / max(float(leaves.value.sum()), 1.0), 6),
              "direction": "over" if events > 0 else "under", "side": metric,
              "summary": f"{metric}: about {_about(abs(events))} {verb} than its history predicts{where} "
                         f"({_about(min(abs(lower), abs(upper)))} to {_about(max(abs(lower), abs(upper)))})"}
    as_dicts = tuple({"label": c.label(), "elements": dict(c.elements), "share": round(float(c.share), 4),
                      "confidence": round(float(c.confidence), 4), "observed": float(c.observed),
                      "expected": round(float(c.expected), 2)} for c in causes)
    return as_dicts, impact


def explain_metric(settings: ExplainSettings, store, metric: str, partition: dt.date):
    """(root causes as dicts, impact as a dict) of `metric`'s count on `partition` against its own
    history in `store`; ((), None) when there is no history or nothing stands out."""
    frame, dims, bad = metric_history(settings, store, metric, partition)
    return localize_count(frame, dims, partition, bad, metric=metric)

