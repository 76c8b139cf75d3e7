"""Incident evidence for the SOX report, read from the ledger (kind "incident"): every incident of the
period with its sign-off, and per month the time to acknowledge and to sign off.

Hours are from the incident's opening (when the service notified it) to the first acknowledgement
(an ack, or an assignment) and to the closing sign-off; medians, because one incident left over a
holiday should not hide how the rest were handled.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

INCIDENT_COLUMNS = ["incident_id", "first_partition", "title", "owner", "severity", "status", "opened_at",
                    "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by", "resolution",
                    "signed_off_at", "signed_off_by", "disposition", "note", "hours_to_acknowledge",
                    "hours_to_signoff", "ledger_seqs"]
MONTH_COLUMNS = ["month", "incidents", "acknowledged", "median_hours_to_acknowledge", "signed_off",
                 "median_hours_to_signoff", "false_positives", "open"]


def collect_incidents(ledger, start: dt.date, end: dt.date) -> dict[str, pd.DataFrame]:
    rows: dict[str, dict] = {}
    for r in ledger.records(kind="incident", start=start, end=end):
        p, iid = r.payload, r.payload["incident_id"]
        at = dt.datetime.fromisoformat(p["at"])
        if p["action"] == "open":
            rows[iid] = {c: None for c in INCIDENT_COLUMNS} | {
                "incident_id": iid, "first_partition": r.partition.isoformat(), "title": p["title"],
                "owner": p["owner"], "severity": p["severity"], "status": "open", "opened_at": at, "ledger_seqs": []}
        row = rows.get(iid)
        if row is None:
            continue
        row["ledger_seqs"].append(r.seq)
        row["status"] = p["to"]
        if p["action"] in ("ack", "assign") and row["acknowledged_at"] is None:
            row.update(acknowledged_at=at, acknowledged_by=p["by"])
        elif p["action"] == "resolve":
            row.update(resolved_at=at, resolved_by=p["by"], resolution=p["note"])
        elif p["action"] == "signoff":
            row.update(signed_off_at=at, signed_off_by=p["by"], disposition=p["disposition"], note=p["note"])
    for row in rows.values():
        row["hours_to_acknowledge"] = _hours(row["opened_at"], row["acknowledged_at"])
        row["hours_to_signoff"] = _hours(row["opened_at"], row["signed_off_at"])
        row["ledger_seqs"] = " ".join(map(str, row["ledger_seqs"]))
    frame = pd.DataFrame(list(rows.values()), columns=INCIDENT_COLUMNS)
    return {"incidents": frame, "incident_months": _months(frame)}


def _months(frame: pd.DataFrame) -> pd.DataFrame:
    out = []
    for month, g in frame.groupby(frame.first_partition.str[:7], sort=True):
        out.append({"month": month, "incidents": len(g), "acknowledged": int(g.acknowledged_at.notna().sum()),
                    "median_hours_to_acknowledge": _median(g.hours_to_acknowledge),
                    "signed_off": int(g.signed_off_at.notna().sum()),
                    "median_hours_to_signoff": _median(g.hours_to_signoff),
                    "false_positives": int((g.status == "false_positive").sum()),
                    "open": int((~g.status.isin(["signed_off", "false_positive"])).sum())})
    return pd.DataFrame(out, columns=MONTH_COLUMNS)


def _hours(a: dt.datetime | None, b: dt.datetime | None) -> float | None:
    return round((b - a).total_seconds() / 3600, 2) if a is not None and b is not None else None


def _median(values: pd.Series) -> float | None:
    v = pd.to_numeric(values, errors="coerce").dropna()
    return round(float(v.median()), 2) if len(v) else None
