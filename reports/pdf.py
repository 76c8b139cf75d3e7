"""The report as a multi-page PDF (matplotlib's PdfPages: no browser, no extra dependency).

Page 1 holds the period, the headline numbers and the ledger verification; then one page per chart;
then the per-control tally, the exception log, the definition changes and the silences as tables
(long tables run over several pages, up to MAX_TABLE_PAGES each; the CSVs hold every row).
"""
from __future__ import annotations

import datetime as dt
import re
import textwrap
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from reports.ledger_evidence import ARCHIVE_FORMAT, LedgerEvidence
from reports.summary import headline, per_control

A4_LANDSCAPE = (11.69, 8.27)
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")
ROWS_PER_PAGE = 28
CHARS_PER_LINE = 200   # what fits across a landscape A4 page at 6.5 pt
MAX_TABLE_PAGES = 10
TABLES = [
    ("Exceptions and dispositions", "exceptions",
     ["exception_id", "owner", "detail", "status", "disposition", "signed_by", "signed_at", "note"]),
    ("Control definition changes", "control_changes",
     ["seq", "recorded_at", "control_id", "change", "version", "changed_fields", "git_commit"]),
    ("Silences", "silences", ["silence_id", "matchers", "author", "reason", "created_at", "expires_at",
                              "expired_by", "decisions_silenced_in_period"]),
]


def write_pdf(path: Path, frames: dict[str, pd.DataFrame], figures: dict, ledger: LedgerEvidence, *,
              start: dt.date, end: dt.date, config_source: str) -> Path:
    with PdfPages(path, metadata={"Title": f"SOX control evidence {start} to {end}",
                                  "Creator": "metrics-quality"}) as pdf:
        pdf.savefig(_title_page(frames, ledger, start, end, config_source))
        for fig in figures.values():
            pdf.savefig(fig)
        for fig in _table_pages("Per-control executions", per_control(frames)):
            pdf.savefig(fig)
        for title, name, columns in TABLES:
            for fig in _table_pages(title, frames[name][columns]):
                pdf.savefig(fig)
    return path


def _anchor_text(ledger: LedgerEvidence) -> str:
    a = ledger.anchor
    if a is None:
        return f"No anchor in {ledger.anchor_dir}: the head has not been copied outside the store yet."
    verdict = "verifies" if ledger.anchor_ok else f"does NOT verify: {ledger.anchor_problem}"
    return f"Latest anchor: record {a.seq} ({verdict}), hash {a.hash}, kept in {a.path}"


def _title_page(frames, ledger: LedgerEvidence, start, end, config_source: str):
    fig = _page()
    h = headline(frames)
    verdict = (f"Ledger verified: {ledger.live.count} records" if ledger.live.ok
               else f"Ledger BROKEN at record {ledger.live.first_bad_seq}: {ledger.live.problem}")
    lines = [
        ("metrics-quality: SOX control evidence", 20, "bold"),
        (f"Period {start} to {end}; generated {ledger.verified_at:%Y-%m-%d %H:%M} UTC", 11, "normal"),
        (f"Config {config_source}", 9, "normal"),
        ("", 8, "normal"),
        (f"Controls: {h['controls']}.  Partitions with a successful run: {h['partitions_run']} of "
         f"{h['partitions']}.  Missed scheduled runs: {h['missed_runs']}.", 11, "normal"),
        (f"Control executions: {h['executed']} of {h['expected_executions']} expected.  Exceptions: "
         f"{h['exceptions']} ({h['open_exceptions']} open, {h['closed_exceptions']} signed off).", 11, "normal"),
        ("", 8, "normal"),
        (verdict, 12, "bold"),
        (f"Head hash {ledger.live.head_hash}", 10, "normal"),
        *[(text, 9, "normal") for text in textwrap.wrap(_anchor_text(ledger), 150)],
        (f"Archive {ledger.archive_path.name} ({'verifies' if ledger.archive.ok else 'does NOT verify'}), "
         f"SHA-256 {ledger.archive_sha256}", 9, "normal"),
    ]
    lines += [(text, 9, "normal") for text in textwrap.wrap("Archive format: " + ARCHIVE_FORMAT, 150)]
    y = 0.92
    for text, size, weight in lines:
        fig.text(0.05, y, text, fontsize=size, fontweight=weight, va="top")
        y -= 0.028 + size / 700
    return fig


def _page() -> Figure:
    fig = Figure(figsize=A4_LANDSCAPE)
    FigureCanvasAgg(fig)
    return fig


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(value)
    # ISO timestamps to the minute: the CSV keeps the exact value
    return f"{text[:10]} {text[11:16]}" if _TIMESTAMP.match(text) else text


def _fit(header: list[str], cells: list[list[str]]) -> list[int]:
    """Characters per column: as wide as the content, the widest columns shrunk until the page holds them."""
    widths = [max([len(h)] + [len(row[j]) for row in cells]) for j, h in enumerate(header)]
    while sum(widths) > CHARS_PER_LINE and max(widths) > 8:
        widths[widths.index(max(widths))] -= 1
    return widths


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def _table_pages(title: str, frame: pd.DataFrame):
    pages = max(1, -(-len(frame) // ROWS_PER_PAGE))
    shown = min(pages, MAX_TABLE_PAGES)
    header = list(frame.columns)
    for page in range(shown):
        fig = _page()
        ax = fig.add_axes((0.04, 0.04, 0.92, 0.86))
        ax.set_axis_off()
        suffix = f" (page {page + 1} of {pages})" if pages > 1 else ""
        more = (f"; {len(frame) - shown * ROWS_PER_PAGE} more rows in the CSV"
                if page == shown - 1 and pages > shown else "")
        fig.text(0.04, 0.95, f"{title}{suffix}{more}", fontsize=12)
        chunk = frame.iloc[page * ROWS_PER_PAGE:(page + 1) * ROWS_PER_PAGE]
        if chunk.empty:
            ax.text(0.0, 0.95, "None in this period.", fontsize=10)
            yield fig
            continue
        cells = [[_cell(v) for v in row] for row in chunk.itertuples(index=False)]
        widths = _fit(header, cells)
        tab = ax.table(cellText=[[_clip(v, w) for v, w in zip(row, widths)] for row in cells],
                       colLabels=[_clip(h, w) for h, w in zip(header, widths)], loc="upper left",
                       cellLoc="left", colWidths=[w / sum(widths) for w in widths])
        tab.auto_set_font_size(False)
        tab.set_fontsize(6.5)
        yield fig
