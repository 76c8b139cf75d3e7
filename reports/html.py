"""Render the evidence as one self-contained HTML page (charts embedded as PNG, template `sox.html`)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup

from controls import DISPOSITIONS
from reports import charts
from reports.ledger_evidence import ARCHIVE_FORMAT, LedgerEvidence
from reports.summary import headline, per_control

_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True,
                          undefined=jinja2.StrictUndefined)
ROW_LIMIT = 200
SHOWN = {
    "exceptions": ["exception_id", "type", "owner", "detail", "status", "disposition", "signed_by", "signed_at",
                   "note"],
    "controls": ["control_id", "owner", "frequency", "objective", "precision", "exception_rule",
                 "recorded_version", "definition_hash"],
    "control_changes": ["seq", "recorded_at", "control_id", "change", "version", "changed_fields", "git_commit"],
}


def table(frame: pd.DataFrame, limit: int = ROW_LIMIT, clip: int = 240) -> Markup:
    shown = frame.head(limit).astype(object).map(
        lambda v: v[:clip - 3] + "..." if isinstance(v, str) and len(v) > clip else v)
    text = shown.to_html(index=False, escape=True, border=0, classes="t", na_rep="")
    more = f"<p>{len(frame) - limit} more rows in the CSV.</p>" if len(frame) > limit else ""
    empty = "<p>None in this period.</p>" if frame.empty else ""
    return Markup(empty or text + more)


def render(frames: dict[str, pd.DataFrame], figures: dict, ledger: LedgerEvidence, *, config, start: dt.date,
           end: dt.date, csv_files: list[str]) -> str:
    tables = {name: table(frames[name][cols]) for name, cols in SHOWN.items()}
    tables.update({name: table(frames[name]) for name in ("silences", "alerts", "checks", "pulls", "runs")})
    tables.update({name: table(frames[name].drop(columns=["ledger_seqs"], errors="ignore"))
                   for name in ("incidents", "incident_months")})
    tables["per_control"] = table(per_control(frames))
    return _ENV.get_template("sox.html").render(
        start=start, end=end, generated_at=ledger.verified_at.strftime("%Y-%m-%d %H:%M UTC"),
        config_source=config.source_path, config_hash=config.content_hash, ledger=ledger,
        h=headline(frames), charts={k: charts.png_base64(f) for k, f in figures.items()}, tables=tables,
        dispositions="{" + ",".join(DISPOSITIONS) + "}", archive_format=ARCHIVE_FORMAT, csv_files=csv_files)
