"""Root cause and impact of a client/warehouse discrepancy on one partition.

Per leaf (full dimension combination): expected client count = warehouse count x the leaf's baseline
capture ratio, pooled over the previous `BASELINE_DAYS` clean days (holidays and days on which any slice
of the pair was anomalous are left out, so one incident does not hide the next). The localiser then finds the
few slices that explain the gap; the impact is the number of client events missing (or extra) on them.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

from rootcause import estimate_impact, localize


BASELINE_DAYS = 28
MIN_SHARE = 0.05   # a cause explaining less than 5 % of the deviation is noise next to the others


def pair_leaves(pipe, pair_name: str, partition: dt.date) -> tuple[pd.DataFrame, list[str]]:
    """One row per leaf: client, warehouse, baseline_client, baseline_warehouse, expected_client."""
    pair = pipe.config.pairs[pair_name]
    dims = pipe.config.metric_dimensions(pair.client)
    leaf = ",".join(dims)
    start = partition - dt.timedelta(days=BASELINE_DAYS)
    pts = pipe.store.points([pair.client, pair.warehouse], start, partition, groupings=[leaf])
    if pts.empty:
        return pd.DataFrame(), dims
    bad = set(pipe.config.holidays)
    det = pipe.store.detections(pair_name, start, partition - dt.timedelta(days=1))
    if not det.empty:   # days of earlier discrepancies would drag the baseline towards the incident
        bad |= set(det[det.status == "anomaly"].partition)
    wide = pts.pivot_table(index=["slice_key", "partition"], columns="metric", values="value").reset_index()
    wide = wide.rename(columns={pair.client: "client", pair.warehouse: "warehouse"}).fillna(0.0)
    if "client" not in wide or "warehouse" not in wide:
        return pd.DataFrame(), dims
    today = wide[wide.partition == partition].set_index("slice_key")[["client", "warehouse"]]
    past = wide[(wide.partition < partition) & ~wide.partition.isin(bad)]
    base = past.groupby("slice_key")[["client", "warehouse"]].sum().add_prefix("baseline_")
    leaves = today.join(base, how="left").fillna(0.0)
    pooled = base.baseline_client.sum() / max(base.baseline_warehouse.sum(), 1.0)
    ratio = (leaves.baseline_client / leaves.baseline_warehouse.where(leaves.baseline_warehouse > 0)).fillna(pooled)
    leaves["expected_client"] = leaves.warehouse * ratio
    labels = pts.drop_duplicates("slice_key").set_index("slice_key").labels
    for d in dims:
        leaves[d] = [labels[k].get(d, "") for k in leaves.index]
    return leaves.reset_index(), dims


def explain_pair(pipe, pair_name: str, partition: dt.date, max_causes: int = 5):
    """(root causes as dicts, impact as a dict) or ((), None) when there is nothing to explain."""
    leaves, dims = pair_leaves(pipe, pair_name, partition)
    if leaves.empty or leaves.baseline_warehouse.sum() <= 0:   # no history yet: nothing to compare with
        return (), None
    causes = localize(leaves, dims, real="client", predict="expected_client", max_causes=max_causes)
    causes = [c for c in causes if c.share >= MIN_SHARE]
    if not causes:
        return (), None
    impact = estimate_impact(leaves, causes, observed="client", denominator="warehouse",
                             baseline_numerator="baseline_client", baseline_denominator="baseline_warehouse")
    as_dicts = tuple({"label": c.label(), "elements": dict(c.elements), "share": round(float(c.share), 4),
                      "confidence": round(float(c.confidence), 4), "observed": float(c.observed),
                      "expected": round(float(c.expected), 2)} for c in causes)
    impact_dict = {"events": round(float(impact.events), 1), "lower": round(float(impact.lower), 1),
                   "upper": round(float(impact.upper), 1), "share_of_total": round(float(impact.share_of_total), 6),
                   "direction": impact.direction}
    return as_dicts, impact_dict
