"""Late vs lost: how much of the under-count a client metric read on its own day shows would still
arrive, and how much never does.

The client table's completeness curve (`tables.<name>.completeness_curve`, stored by the pull as
`<metric>__arrived_d<k>`) gives, per slice and partition D, the client count c_k of the rows that had
arrived by the end of D+k; the client metric itself is the final count C (every row the partition
held at its latest pull) and the warehouse count W is the reported one. Read at D+0, the slice
under-counts W - c_0, which splits exactly into

- late = C - c_0: events logged by the client that arrived after D+0 (waiting, or re-pulling the
  partition, recovers them; `late_by_d<K>` of them had arrived by the curve's last lag K);
- lost = W - C: events the client never sent (the steady-state under-count of the rest of the report).

Completeness at D+k is c_k / C, the share of the final count present at D+k. Only steady-state
slice-days (`sizing.data`) of settled partitions count: those whose latest client pull started after
the end of D+K, so that it stored the last lag's point (`pulls.arrival`). Before that the final
count is not final yet, and what is still to come would read as lost. Intervals come from
the report's day-block bootstrap (`sizing.estimate.Bootstrap`), every slice and rate on the same
resampled days, with the binomial floor of `capture_replicates` (a row is late or not, captured or not).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.config import arrived_metric
from sizing.data import PairCounts
from sizing.estimate import Bootstrap, capture_replicates

# Event counts of the table (rounded to 0.1 event in the CSV, whole events on the page).
EVENT_COLUMNS = ("client_d0", "under_count_d0", "late", "late_low", "late_high", "lost", "lost_low", "lost_high")


def read_arrivals(counts: PairCounts, store) -> pd.DataFrame:
    """Per monitored slice and partition: c_k of every lag k of the curve (columns `d<k>`) and whether the
    partition has settled (`settled`: its latest client pull stored the last lag, having started after the
    end of D + that lag). Empty without a completeness curve."""
    s = counts.settings
    columns = ["slice_key", "partition", *(f"d{k}" for k in s.arrival_lags), "settled"]
    if not s.arrival_lags:
        return pd.DataFrame(columns=columns)
    names = {arrived_metric(s.client, k): f"d{k}" for k in s.arrival_lags}
    points = store.points(list(names), counts.start, counts.end, groupings=list(s.groupings))
    if points.empty:
        return pd.DataFrame(columns=columns)
    points = points.assign(partition=pd.to_datetime(points.partition).dt.date, lag=points.metric.map(names))
    wide = points.pivot_table(index=["slice_key", "partition"], columns="lag", values="value", aggfunc="sum")
    wide = wide.reindex(columns=list(names.values())).reset_index()
    last = f"d{s.arrival_lags[-1]}"
    wide["settled"] = wide.partition.isin(set(wide.partition[wide[last].notna()]))
    return wide[columns]


def late_vs_lost(counts: PairCounts, arrivals: pd.DataFrame, boot: Bootstrap | None = None) -> pd.DataFrame:
    """One row per monitored slice: its settled steady-state days (`unsettled_days`: the steady-state days
    without a settled curve), warehouse W, final client C, c_0, the D+0 under-count W - c_0 split into late
    (C - c_0) and lost (W - C), each with its interval, late's share of the D+0 under-count, and
    completeness c_k / C at every lag with its interval."""
    lags = counts.settings.arrival_lags
    if not lags or arrivals.empty:
        return pd.DataFrame(columns=_columns(lags))
    boot = boot or Bootstrap.for_days(len(counts.days))
    steady = counts.slices[~counts.slices.excluded]
    steady_days = steady.groupby("slice_key").partition.nunique()
    rows = steady.merge(arrivals, on=["slice_key", "partition"], how="inner")
    rows = rows[rows.settled]
    out = []
    for (grouping, key), frame in rows.groupby(["grouping", "slice_key"], sort=False):
        daily = _daily(frame, counts.days, ["warehouse", "client", *(f"d{k}" for k in lags)])
        split = _split(daily, lags, boot)
        out.append({"grouping": grouping, "slice_key": key, **split,
                    "unsettled_days": int(steady_days[key]) - frame.partition.nunique()})
    if not out:
        return pd.DataFrame(columns=_columns(lags))
    table = pd.DataFrame(out)[_columns(lags)]
    order = table.grouping.map(lambda g: (0 if not g else len(g.split(",")), g))
    return table.assign(_o=order).sort_values(["_o", "late"], ascending=[True, False]).drop(columns="_o") \
        .reset_index(drop=True)


def _columns(lags) -> list[str]:
    last = lags[-1] if lags else 0
    curve = [c for k in lags for c in (f"completeness_d{k}", f"completeness_d{k}_low", f"completeness_d{k}_high")]
    return ["grouping", "slice_key", "days", "unsettled_days", "warehouse", "client", "client_d0", "under_count_d0",
            "late", "late_low", "late_high", f"late_by_d{last}", "lost", "lost_low", "lost_high", "late_share", *curve]


def _daily(frame: pd.DataFrame, days: list, columns: list[str]) -> dict[str, np.ndarray]:
    """Per calendar day of the period, the sum of each column over the slice's rows (0 on other days)."""
    index = {d: i for i, d in enumerate(days)}
    pos = np.array([index[p] for p in frame.partition], dtype=int)
    out = {}
    for c in columns:
        values = np.zeros(len(days))
        np.add.at(values, pos, frame[c].fillna(0.0).to_numpy(float))
        out[c] = values
    return out


def _split(daily: dict[str, np.ndarray], lags, boot: Bootstrap) -> dict:
    """The late/lost split and completeness curve of one slice's daily counts."""
    w, c, c0 = daily["warehouse"], daily["client"], daily["d0"]      # the curve starts at D+0 (core.config)
    W, C, C0 = float(w.sum()), float(c.sum()), float(c0.sum())
    row = {"days": int((w > 0).sum()), "warehouse": W, "client": C, "client_d0": C0, "under_count_d0": W - C0,
           "late": C - C0, "lost": W - C, "late_share": (C - C0) / (W - C0) if W - C0 > 0 else np.nan,
           f"late_by_d{lags[-1]}": float(daily[f"d{lags[-1]}"].sum()) - C0}
    if W > 0:
        # late rate (C - c0) / W: one minus the "capture" of W - (C - c0); lost rate: one minus C / W
        late_lo, late_hi = boot.interval(1 - capture_replicates(boot, w - (c - c0), w))
        lost_lo, lost_hi = boot.interval(1 - capture_replicates(boot, c, w))
    else:
        late_lo = late_hi = lost_lo = lost_hi = np.nan
    row.update(late_low=W * late_lo, late_high=W * late_hi, lost_low=W * lost_lo, lost_high=W * lost_hi)
    for k in lags:
        ck = daily[f"d{k}"]
        lo, hi = boot.interval(capture_replicates(boot, ck, c)) if C > 0 else (np.nan, np.nan)
        row.update({f"completeness_d{k}": float(ck.sum()) / C if C > 0 else np.nan,
                    f"completeness_d{k}_low": lo, f"completeness_d{k}_high": hi})
    return row


def method_text(counts: PairCounts, table: pd.DataFrame) -> str:
    """What the late-vs-lost figures are, for the report's method paragraph."""
    s = counts.settings
    if not s.arrival_lags:
        return (f"Late vs lost: not computed; the client table {s.client_table} has no completeness curve "
                f"(tables.{s.client_table}.completeness_curve), so late events cannot be told from lost ones.")
    total = table[table.grouping == ""]
    days = int(total.days.iloc[0]) if len(total) else 0
    unsettled = int(total.unsettled_days.iloc[0]) if len(total) else 0
    last = s.arrival_lags[-1]
    lags = ", ".join(f"D+{k}" for k in s.arrival_lags)
    return (f"Late vs lost: the pull stores, per slice and partition D, the client count of the rows of "
            f"{s.client_table} that had arrived by the end of {lags} (its completeness curve). Read at D+0 a "
            f"slice under-counts warehouse - client(D+0); of that, late = final client - client(D+0) "
            f"(events that arrive later: waiting or re-pulling recovers them) and lost = warehouse - final "
            f"client (never sent), so late + lost is the D+0 under-count. Completeness at D+k is client(D+k) / "
            f"final client. Only settled steady-state days count, those whose latest client pull started after the "
            f"end of D+{last} (the total had {days}, {unsettled} more not settled yet: re-pull them after D+{last}); "
            f"the intervals are the same block bootstrap's, with a binomial floor.")


def page_table(table: pd.DataFrame, lags) -> pd.DataFrame:
    """The table as the page shows it: events as whole numbers with their interval, shares as %."""
    if table.empty:
        return table

    def events(v, lo, hi):
        return f"{v:,.0f} ({lo:,.0f} to {hi:,.0f})" if pd.notna(lo) else f"{v:,.0f}"

    def share(v, lo, hi):
        return f"{v:.2%} ({lo:.2%} to {hi:.2%})" if pd.notna(lo) else (f"{v:.2%}" if pd.notna(v) else "")

    out = pd.DataFrame({"slice": table.slice_key, "days": table.days,
                        "D+0 under-count": [f"{v:,.0f}" for v in table.under_count_d0],
                        "late": [events(*r) for r in zip(table.late, table.late_low, table.late_high)],
                        "lost": [events(*r) for r in zip(table.lost, table.lost_low, table.lost_high)],
                        "late share": [f"{v:.1%}" if pd.notna(v) else "" for v in table.late_share]})
    for k in lags:
        out[f"complete D+{k}"] = [share(*r) for r in zip(table[f"completeness_d{k}"], table[f"completeness_d{k}_low"],
                                                         table[f"completeness_d{k}_high"])]
    return out
