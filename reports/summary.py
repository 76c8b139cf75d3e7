"""The headline numbers of a period and the per-control tally, shared by the HTML and the PDF."""
from __future__ import annotations

import pandas as pd

from controls import SCHEDULE_CONTROL


def headline(frames: dict[str, pd.DataFrame]) -> dict[str, int]:
    runs, exc = frames["control_runs"], frames["exceptions"]
    schedule = runs[runs.control_id == SCHEDULE_CONTROL]
    return {
        "controls": len(frames["controls"]),
        "partitions": int(schedule.partition.nunique()),
        "partitions_run": int((schedule.status == "ok").sum()),
        "missed_runs": int((schedule.status == "missed").sum()),
        "expected_executions": len(runs),
        "executed": int(runs.status.isin(["ok", "exception"]).sum()),
        "not_executed": int(runs.missed.astype(bool).sum()),
        "exceptions": len(exc),
        "open_exceptions": int((exc.status == "open").sum()),
        "closed_exceptions": int((exc.status == "closed").sum()),
        "control_changes": len(frames["control_changes"]),
        "silences": len(frames["silences"]),
    }


def per_control(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """control_id, owner, expected, executed, ok, exceptions, missed, skipped, open exceptions."""
    runs, exc = frames["control_runs"], frames["exceptions"]
    owners = dict(zip(frames["controls"].control_id, frames["controls"].owner))
    rows = []
    for control_id, group in runs.groupby("control_id", sort=True):
        mine = exc[exc.control_id == control_id]
        rows.append({"control_id": control_id, "owner": owners.get(control_id, ""), "expected": len(group),
                     "executed": int(group.status.isin(["ok", "exception"]).sum()),
                     "ok": int((group.status == "ok").sum()), "exceptions": len(mine),
                     "missed": int(group.missed.astype(bool).sum()), "skipped": int((group.status == "skipped").sum()),
                     "open": int((mine.status == "open").sum())})
    return pd.DataFrame(rows, columns=["control_id", "owner", "expected", "executed", "ok", "exceptions", "missed",
                                       "skipped", "open"])
