"""Operational evidence of a period from the state store: runs, pulls, check results, alerts, decisions."""
from __future__ import annotations

import datetime as dt

import pandas as pd


def _alerts_frame(alerts, start: dt.date, end: dt.date) -> pd.DataFrame:
    rows = [a for a in alerts.alerts() if start <= a["first_partition"] <= end]
    cols = ["id", "kind", "subject", "labels", "severity", "status", "first_partition", "last_partition",
            "resolved_partition", "suppressed", "message"]
    frame = pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame(columns=cols)
    frame["labels"] = frame["labels"].map(lambda d: " & ".join(f"{k}={v}" for k, v in (d or {}).items()))
    return frame


def collect_store(store, alerts, start: dt.date, end: dt.date) -> dict[str, pd.DataFrame]:
    """The operational tables of [start, end]: from the metric store (`store`) and the alert book (`alerts`)."""
    runs = store.runs(start, end)
    runs = runs[["run_id", "partition", "trigger", "status", "config_hash", "started_at", "finished_at"]]
    pulls = store.pulls(start, end)
    pulls = pulls.assign(files=pulls.input_files.map(lambda f: len(f or [])))[
        ["table_name", "partition", "version", "status", "row_count", "files", "sql_hash", "content_hash",
         "spark_app_id", "started_at", "finished_at"]]
    checks = store.check_results(start, end)
    checks = checks.assign(failed=checks.result.map(
        lambda r: ";".join(e["expectation"] for e in (r or {}).get("expectations", []) if not e["success"])))[
        ["suite", "table_name", "partition", "success", "failed", "suite_hash", "recorded_at"]]
    decisions = pd.DataFrame(alerts.decisions(start, end),
                             columns=["partition", "fingerprint", "alert_id", "decision", "reason", "receiver",
                                      "decided_at"])
    return {"runs": runs, "pulls": pulls, "checks": checks, "alerts": _alerts_frame(alerts, start, end),
            "alert_decisions": decisions}
