"""The report's charts as matplotlib Figures: the HTML embeds them as PNG, the PDF draws them as pages.

- control_runs_chart: each control's status on each partition (executed, exception, missed, ...)
- exceptions_chart: exceptions per partition by type, open ones marked
- disposition_chart: hours from an exception being raised to its closing sign-off
"""
from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

STATUS_COLORS = {"ok": "#3a9a5b", "exception": "#d0392b", "missed": "#222222", "not_executed": "#f0a030",
                 "skipped": "#b9c4cf"}
TYPE_COLORS = {"failed": "#d0392b", "anomaly": "#8e44ad", "missed": "#222222"}
MAX_BARS = 30   # more signed-off exceptions than this are shown as a histogram


def figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def date_ticks(ax, dates: list[str], axis: str = "x") -> None:
    step = max(1, len(dates) // 12)
    ticks = list(range(0, len(dates), step))
    getattr(ax, f"set_{axis}ticks")(ticks, [dates[i] for i in ticks], rotation=45, ha="right", fontsize=7)


def control_runs_chart(runs: pd.DataFrame) -> Figure:
    controls = sorted(runs.control_id.unique()) if len(runs) else []
    dates = sorted(runs.partition.unique()) if len(runs) else []
    fig = figure(10, 0.6 + 0.32 * max(len(controls), 3) + 0.9)
    ax = fig.add_subplot()
    codes = {s: i for i, s in enumerate(STATUS_COLORS)}
    grid = np.full((len(controls), len(dates)), np.nan)
    index_c, index_d = {c: i for i, c in enumerate(controls)}, {d: i for i, d in enumerate(dates)}
    for r in runs.itertuples(index=False):
        grid[index_c[r.control_id], index_d[r.partition]] = codes[r.status]
    ax.imshow(grid, aspect="auto", interpolation="nearest", cmap=ListedColormap(list(STATUS_COLORS.values())),
              vmin=-0.5, vmax=len(STATUS_COLORS) - 0.5)
    ax.set_yticks(range(len(controls)), controls, fontsize=8)
    ax.set_xticks(np.arange(-0.5, len(dates)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(controls)), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.8 if len(dates) <= 60 else 0.3)
    ax.tick_params(which="minor", length=0)
    date_ticks(ax, dates)
    ax.set_title("Control executions per partition (expected: one per control and day)", fontsize=10)
    ax.legend(handles=[Patch(color=c, label=s.replace("_", " ")) for s, c in STATUS_COLORS.items()],
              loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=len(STATUS_COLORS), fontsize=8, frameon=False)
    return fig


def exceptions_chart(exceptions: pd.DataFrame, dates: list[str]) -> Figure:
    fig = figure(10, 2.8)
    ax = fig.add_subplot()
    x = np.arange(len(dates))
    bottom = np.zeros(len(dates))
    for kind, color in TYPE_COLORS.items():
        counts = exceptions[exceptions.type == kind].groupby("partition").size().reindex(dates, fill_value=0)
        ax.bar(x, counts.values, bottom=bottom, color=color, label=kind, width=0.8)
        bottom += counts.values
    still_open = exceptions[exceptions.status == "open"].groupby("partition").size().reindex(dates, fill_value=0)
    marks = still_open.values > 0
    ax.plot(x[marks], bottom[marks] + 0.15, "v", color="#d0392b", markersize=6, label="still open")
    ax.set_ylabel("exceptions", fontsize=8)
    ax.set_ylim(0, max(bottom.max(), 1) + 0.8)
    ax.yaxis.get_major_locator().set_params(integer=True)
    date_ticks(ax, dates)
    ax.set_title("Exceptions per partition by type", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", frameon=False, ncol=4)
    return fig


def disposition_chart(exceptions: pd.DataFrame) -> Figure:
    hours = pd.to_numeric(exceptions.hours_to_disposition, errors="coerce")
    done = exceptions.assign(hours=hours).dropna(subset=["hours"]).sort_values("partition")
    per_exception = 0 < len(done) <= MAX_BARS
    fig = figure(10, 1.2 + 0.24 * len(done) if per_exception else 2.8)
    ax = fig.add_subplot()
    if len(done) > MAX_BARS:
        ax.hist(done.hours.clip(lower=0), bins=20, color="#3a6ea5")
        ax.set_xlabel("hours from raised to closing sign-off", fontsize=8)
        ax.set_ylabel("exceptions", fontsize=8)
    elif per_exception:
        colors = [TYPE_COLORS.get(t, "#555555") for t in done.type]
        bars = ax.barh(range(len(done)), done.hours.clip(lower=0), color=colors)
        ax.bar_label(bars, labels=[f"{h:,.1f} h" for h in done.hours], fontsize=7, padding=3)
        ax.set_xlim(0, max(1.0, float(done.hours.max()) * 1.15))
        ax.set_yticks(range(len(done)), [i if len(i) <= 48 else i[:45] + "..." for i in done.exception_id],
                      fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("hours from raised to closing sign-off", fontsize=8)
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no exception has been signed off", ha="center", va="center", fontsize=10)
    still_open = int((exceptions.status == "open").sum())
    ax.set_title(f"Time to disposition ({len(done)} signed off, {still_open} open)", fontsize=10)
    return fig


def png_base64(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return base64.b64encode(buf.getvalue()).decode()
