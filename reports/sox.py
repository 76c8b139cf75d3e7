"""The SOX evidence report of a period: HTML for people, a PDF of it, CSVs for sampling.

Control evidence (the registry, expected vs executed runs, exceptions and their sign-offs, definition
changes, silences) is read from the ledger; operational records (runs, pulls, checks, alerts) from the
state store. The folder also gets an archive of the whole ledger and its verification, so the report
ends with a head hash an auditor can later check the chain against.

    out/index.html, out/report.pdf, out/*.csv, out/ledger_export.jsonl.gz
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from controls import ControlSettings
from controls.executions import days
from core.errors import MqError
from reports import charts
from reports.control_evidence import collect_controls
from reports.html import render
from reports.incident_evidence import collect_incidents
from reports.ledger_evidence import ledger_evidence
from reports.pdf import write_pdf
from reports.store_evidence import collect_store

CONTROL_CSVS = ("controls", "control_runs", "exceptions", "control_changes", "silences")
STORE_CSVS = ("runs", "pulls", "checks", "alerts", "alert_decisions")
INCIDENT_CSVS = ("incidents", "incident_months")


def write_sox_report(pipe, start: dt.date, end: dt.date, out: Path) -> Path:
    """Write the report of partitions [start, end] into folder `out`; returns the path of index.html."""
    if end < start:
        raise MqError(f"report sox: --end {end} is before --start {start}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames = {**collect_controls(ControlSettings.from_config(pipe.config), pipe.ledger, pipe.alerts.silences,
                                  start, end), **collect_store(pipe.store, pipe.alerts, start, end),
              **collect_incidents(pipe.ledger, start, end)}
    for name in CONTROL_CSVS + STORE_CSVS + INCIDENT_CSVS:
        frames[name].to_csv(out / f"{name}.csv", index=False)
    ledger = ledger_evidence(pipe.ledger, out, pipe.anchor_dir)
    ledger.frame().to_csv(out / "ledger_verification.csv", index=False)
    dates = [d.isoformat() for d in days(start, end)]
    figures = {"runs": charts.control_runs_chart(frames["control_runs"]),
               "exceptions": charts.exceptions_chart(frames["exceptions"], dates)}
    if _signed_off(frames["exceptions"]):   # else an empty chart box would say nothing the text cannot
        figures["disposition"] = charts.disposition_chart(frames["exceptions"])
    csv_files = [f"{name}.csv" for name in CONTROL_CSVS + STORE_CSVS + INCIDENT_CSVS + ("ledger_verification",)]
    (out / "index.html").write_text(render(frames, figures, ledger, config=pipe.config, start=start, end=end,
                                           csv_files=csv_files), encoding="utf-8")
    write_pdf(out / "report.pdf", frames, figures, ledger, start=start, end=end,
              config_source=pipe.config.source_path)
    return out / "index.html"


def _signed_off(exceptions) -> bool:
    import pandas as pd

    return bool(pd.to_numeric(exceptions.hours_to_disposition, errors="coerce").notna().any())
