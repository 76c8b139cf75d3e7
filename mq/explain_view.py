"""`mq explain`: the root causes and impact of a pair's discrepancy on one day, as a table and a chart."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from mq.stages.explain import explain_pair, pair_leaves


def explain(pipe, pair: str, partition: dt.date, chart: Path | None = None) -> str:
    causes, impact = explain_pair(pipe, pair, partition)
    leaves, dims = pair_leaves(pipe, pair, partition)
    if leaves.empty:
        return f"no data for {pair} on {partition} (was the partition pulled? try `mq run --date {partition}`)"
    total_obs, total_exp = leaves.client.sum(), leaves.expected_client.sum()
    lines = [f"{pair} on {partition}: client {total_obs:,.0f} vs expected {total_exp:,.0f} "
             f"({(total_obs - total_exp) / max(total_exp, 1):+.2%})", ""]
    if not causes:
        lines.append("no slice explains a deviation: the gap is within normal variation")
        return "\n".join(lines)
    lines.append(f"{'root cause':45s} {'share':>7s} {'conf':>5s} {'observed':>10s} {'expected':>10s}")
    for c in causes:
        lines.append(f"{c['label']:45s} {c['share']:7.1%} {c['confidence']:5.2f} {c['observed']:10,.0f} "
                     f"{c['expected']:10,.0f}")
    if impact:
        verb = "under-counted" if impact["direction"] == "under" else "over-counted"
        lines += ["", f"impact: {abs(impact['events']):,.0f} client events {verb} "
                      f"(90% interval {impact['lower']:,.0f} .. {impact['upper']:,.0f}), "
                      f"{impact['share_of_total']:+.2%} of the reported total"]
    if chart is not None:
        _chart(causes, chart)
        lines.append(f"chart: {chart}")
    return "\n".join(lines)


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
