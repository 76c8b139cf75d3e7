"""`mq explain`: the root causes and impact of a pair's discrepancy on one day, as a table and a chart."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from mq.stages.explain import pipeline_diagnosis

# Exit codes of `mq explain`: 0 a diagnosis (a cause, "within normal variation" or a missing side),
# 1 nothing to explain (no data pulled for the day, or no history to compare with).
NOTHING_TO_EXPLAIN = 1


def explain(pipe, pair: str, partition: dt.date, chart: Path | None = None) -> tuple[str, int]:
    """(the text `mq explain` prints, its exit code)."""
    diagnosis = pipeline_diagnosis(pipe, pair, partition)
    if diagnosis.status in ("no_data", "no_history"):
        return f"{pair} on {partition}: {diagnosis.summary}", NOTHING_TO_EXPLAIN
    totals = diagnosis.totals
    lines = []
    if "expected_client" in totals:
        observed, expected = totals["client"], totals["expected_client"]
        lines.append(f"{pair} on {partition}: client {observed:,.0f} vs expected {expected:,.0f} "
                     f"({(observed - expected) / max(expected, 1):+.2%}), warehouse {totals['warehouse']:,.0f}")
    else:
        lines.append(f"{pair} on {partition}: client {totals['client']:,.0f}, warehouse {totals['warehouse']:,.0f}")
    lines += ["", diagnosis.summary]
    if diagnosis.status != "explained":
        return "\n".join(lines), 0
    causes, impact = diagnosis.causes, diagnosis.impact
    lines += ["", f"{'root cause':45s} {'share':>7s} {'conf':>5s} {'observed':>10s} {'expected':>10s}"]
    for c in causes:
        lines.append(f"{c['label']:45s} {c['share']:7.1%} {c['confidence']:5.2f} {c['observed']:10,.0f} "
                     f"{c['expected']:10,.0f}")
    lines += ["", f"impact: {impact['summary']}, 90% interval; {impact['share_of_total']:+.2%} of the reported "
                  f"client total", f"side: {impact['side']} ({impact['evidence']})"]
    if chart is not None:
        _chart(causes, chart)
        lines.append(f"chart: {chart}")
    return "\n".join(lines), 0


def _chart(causes, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 0.6 * len(causes) + 1.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    y = range(len(causes))
    ax.barh([i + 0.2 for i in y], [c["expected"] for c in causes], height=0.4, label="expected", color="#9bb")
    ax.barh([i - 0.2 for i in y], [c["observed"] for c in causes], height=0.4, label="observed", color="#c44")
    ax.set_yticks(list(y), [c["label"] for c in causes])
    ax.invert_yaxis()
    ax.set_xlabel("client events")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
