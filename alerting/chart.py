"""A PNG of a metric series with its expected band and the anomalous points, for the Slack thread.

Pure arrays in, PNG bytes out. Uses matplotlib's object API on an Agg canvas (no pyplot global state),
so it is safe in worker threads and on machines without a display.
"""
from __future__ import annotations

import io
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def render_chart(
    dates: Sequence,
    values: Sequence[float],
    expected: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
    anomalies: Sequence[bool],
    *,
    title: str = "",
    width_px: int = 900,
    height_px: int = 360,
) -> bytes:
    """Observed line, expected line, shaded [lower, upper] band, anomalous points in red."""
    lengths = {"dates": len(dates), "values": len(values), "expected": len(expected),
               "lower": len(lower), "upper": len(upper), "anomalies": len(anomalies)}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"render_chart: all arrays must have the same length (got {lengths})")
    if len(dates) == 0:
        raise ValueError("render_chart: nothing to draw (got empty arrays)")
    x = np.asarray(dates)
    mask = np.asarray(anomalies, dtype=bool)
    observed = np.asarray(values, dtype=float)

    dpi = 100
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.fill_between(x, np.asarray(lower, dtype=float), np.asarray(upper, dtype=float),
                    color="tab:blue", alpha=0.15, label="expected range")
    ax.plot(x, np.asarray(expected, dtype=float), color="tab:blue", linestyle="--", linewidth=1, label="expected")
    ax.plot(x, observed, color="black", linewidth=1.5, label="observed")
    if mask.any():
        ax.scatter(x[mask], observed[mask], color="tab:red", zorder=3, s=30, label="anomaly")
    if title:
        ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8, framealpha=0.8)
    fig.autofmt_xdate()
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
