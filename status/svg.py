"""A metric's recent history as an inline SVG line chart, with the incident days marked.

Server-rendered and self-contained (no script, no CDN), so the status page works offline and prints.
"""
from __future__ import annotations

import datetime as dt
from html import escape

WIDTH, HEIGHT, PAD = 560, 140, 28


def history_svg(title: str, series: list[tuple[dt.date, float | None]], marked: dict[dt.date, str]) -> str:
    """`series`: (partition, value) oldest first; `marked`: partition -> incident id (a red band)."""
    points = [(d, v) for d, v in series if v is not None]
    if not points:
        return f'<p class="muted">{escape(title)}: no data yet</p>'
    days = [d for d, _ in series]
    lo, hi = min(v for _, v in points), max(v for _, v in points)
    span = (hi - lo) or abs(hi) or 1.0
    lo, hi = lo - 0.1 * span, hi + 0.1 * span
    step = (WIDTH - 2 * PAD) / max(1, len(days) - 1)

    def x(d: dt.date) -> float:
        return PAD + days.index(d) * step

    def y(v: float) -> float:
        return HEIGHT - PAD - (v - lo) / (hi - lo) * (HEIGHT - 2 * PAD)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
             f'aria-label="{escape(title)}" class="chart">',
             f'<text x="{PAD}" y="16" class="ct">{escape(title)}</text>']
    for d, iid in sorted(marked.items()):
        if d in days:
            parts.append(f'<rect class="inc" x="{x(d) - step / 2:.1f}" y="{PAD - 6}" width="{max(step, 3):.1f}" '
                         f'height="{HEIGHT - 2 * PAD + 6}"><title>{escape(iid)} on {d}</title></rect>')
    path = " ".join(f"{'M' if i == 0 else 'L'}{x(d):.1f},{y(v):.1f}" for i, (d, v) in enumerate(points))
    parts.append(f'<path d="{path}" fill="none" stroke="#2563eb" stroke-width="1.5"/>')
    for d, v in points:
        parts.append(f'<circle cx="{x(d):.1f}" cy="{y(v):.1f}" r="1.8" fill="#2563eb"><title>{d}: {v:,.4g}'
                     f'</title></circle>')
    parts.append(f'<text x="{PAD}" y="{HEIGHT - 8}" class="ax">{days[0]}</text>'
                 f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" class="ax" text-anchor="end">{days[-1]}</text>'
                 f'<text x="2" y="{y(hi - 0.1 * span) + 4:.1f}" class="ax">{hi - 0.1 * span:,.4g}</text>'
                 f'<text x="2" y="{y(lo + 0.1 * span) + 4:.1f}" class="ax">{lo + 0.1 * span:,.4g}</text>')
    parts.append("</svg>")
    return "".join(parts)
