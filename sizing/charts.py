"""The sizing report's charts (matplotlib Figures, embedded as PNG like the SOX report's, drawn with
the same helpers of `reports.charts`)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reports.charts import date_ticks, figure

MAX_LINES = 6


def trend_chart(weekly: pd.DataFrame, grouping: str) -> Figure:
    """Weekly steady-state capture of the total and of the slices of `grouping`."""
    fig = figure(10, 3.2)
    ax = fig.add_subplot()
    weeks = sorted({str(w) for w in weekly.week})
    x = {w: i for i, w in enumerate(weeks)}
    shown = weekly[weekly.grouping.isin(["", grouping])]
    keys = (shown.groupby("slice_key").warehouse.sum().sort_values(ascending=False).index[:MAX_LINES + 1])
    for key in keys:
        line = shown[shown.slice_key == key].sort_values("week")
        at = [x[str(w)] for w in line.week]
        drawn = ax.plot(at, 100 * line.capture, marker="o", markersize=3,
                        linewidth=2.4 if key == "(total)" else 1.2, label=key)[0]
        ax.fill_between(at, 100 * line.capture_low, 100 * line.capture_high, color=drawn.get_color(), alpha=0.15,
                        linewidth=0)
    ax.set_ylabel("capture (client / warehouse, %)", fontsize=8)
    date_ticks(ax, weeks)
    ax.set_title(f"Steady-state capture by week (week starting, band: 95% interval), total and "
                 f"{grouping or 'total'}", fontsize=10)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return fig


def pareto_chart(parts: pd.DataFrame) -> Figure:
    """Under-count per part with its interval, and the cumulative share of the loss."""
    fig = figure(10, 3.2)
    ax = fig.add_subplot()
    x = np.arange(len(parts))
    err = np.vstack([parts.under_count - parts.under_count_low, parts.under_count_high - parts.under_count])
    ax.bar(x, parts.under_count, color="#3a6ea5", yerr=np.clip(err, 0, None), capsize=3)
    ax.set_xticks(x, [p if len(p) <= 40 else p[:37] + "..." for p in parts.part], rotation=20, ha="right",
                  fontsize=7)
    ax.set_ylabel("events under-counted", fontsize=8)
    twin = ax.twinx()
    twin.plot(x, 100 * parts.cumulative_share, color="#d0392b", marker="o")
    twin.set_ylim(0, 105)
    twin.set_ylabel("cumulative % of the loss", fontsize=8)
    ax.set_title("Where the steady-state under-count is (parts do not overlap)", fontsize=10)
    return fig


def _bars_figure(bars: int, empty: str):
    """(figure, axes) sized for `bars` horizontal bars; with none, a figure that says `empty`, and no axes."""
    fig = figure(10, 1.2 + 0.3 * max(bars, 2))
    ax = fig.add_subplot()
    if bars == 0:
        ax.set_axis_off()
        ax.text(0.5, 0.5, empty, ha="center", va="center", fontsize=10)
        return fig, None
    return fig, ax


def what_if_chart(table: pd.DataFrame, limit: int = 12) -> Figure:
    """Events per day recovered by bringing each slice to its target, largest first."""
    top = table.head(limit)
    fig, ax = _bars_figure(len(top), "no slice is below its target")
    if ax is None:
        return fig
    y = np.arange(len(top))
    err = np.vstack([top.per_day - top.per_day_low, top.per_day_high - top.per_day])
    ax.barh(y, top.per_day, xerr=np.clip(err, 0, None), color="#3a9a5b", capsize=3)
    ax.set_yticks(y, [f"{k} -> {t:.1%}" for k, t in zip(top.slice_key, top.target)], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("events per day recovered", fontsize=8)
    ax.set_title("What-if: capture brought to the target", fontsize=10)
    return fig


def rollout_chart(table: pd.DataFrame) -> Figure:
    """Change of the parent's capture from the window before each rollout to the window after, with
    its interval (versions that rolled out before the period have no before and are not drawn)."""
    rows = table.dropna(subset=["change"])
    fig, ax = _bars_figure(len(rows), "no version rolled out inside the period")
    if ax is None:
        return fig
    y = np.arange(len(rows))
    err = 100 * np.vstack([rows.change - rows.change_low, rows.change_high - rows.change])
    colours = ["#d0392b" if hi < 0 else "#3a9a5b" if lo > 0 else "#888888"
               for lo, hi in zip(rows.change_low, rows.change_high)]
    ax.barh(y, 100 * rows.change, xerr=np.clip(err, 0, None), color=colours, capsize=3)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, [f"{p}: {v} ({d})" for p, v, d in zip(rows.parent, rows.version, rows.rollout_day)],
                  fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("change in the capture, after - before (percentage points)", fontsize=8)
    ax.set_title("Capture before and after each version's rollout (red: fell, green: rose, grey: not told "
                 "apart from 0)", fontsize=10)
    return fig


def completeness_chart(table: pd.DataFrame, lags, grouping: str) -> Figure:
    """Completeness curve (share of the final client count present by the end of D+k, with its interval)
    of the total and the slices of `grouping`, the least complete at D+0 first."""
    fig = figure(10, 3.2)
    ax = fig.add_subplot()
    shown = table[table.grouping.isin(["", grouping])].sort_values(f"completeness_d{lags[0]}").head(MAX_LINES + 1)
    for row in shown.itertuples():
        y = np.array([getattr(row, f"completeness_d{k}") for k in lags])
        lo = np.array([getattr(row, f"completeness_d{k}_low") for k in lags])
        hi = np.array([getattr(row, f"completeness_d{k}_high") for k in lags])
        err = np.clip(np.vstack([y - lo, hi - y]), 0, None)
        ax.errorbar(list(lags), 100 * y, yerr=100 * err, marker="o", markersize=3, capsize=3,
                    linewidth=2.4 if row.slice_key == "(total)" else 1.2, label=row.slice_key)
    ax.set_xticks(list(lags), [f"D+{k}" for k in lags])
    ax.set_ylabel("% of the final client count", fontsize=8)
    ax.set_title(f"Completeness curve: share arrived by the end of D+k, total and {grouping or 'total'}",
                 fontsize=10)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return fig
