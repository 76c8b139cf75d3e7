"""Say so when a run had too little history to judge: a first run on an empty store cannot alert.

The detectors mark a series `insufficient_history` until it has enough past partitions; a run where
that is true of most series looks like a clean day unless its summary says otherwise.
"""
from __future__ import annotations

import datetime as dt


def history_note(detections: dict | None, partition: dt.date, history_days: int) -> str | None:
    """One line for the run summary, or None when the detectors could score (nearly) everything."""
    if not detections:
        return None
    unscored = total = 0
    for subject in detections.values():
        counts = subject.get("status_counts") or {}
        unscored += counts.get("insufficient_history", 0)
        total += sum(v for k, v in counts.items() if k not in ("holiday", "missing"))
    if not total or unscored * 2 < total:   # a few new slices without history are normal
        return None
    start = partition - dt.timedelta(days=history_days)
    return (f"too little history: {unscored} of {total} series could not be scored, so this run cannot "
            f"alert on anomalies or discrepancies; load history first with "
            f"`mq backfill --start {start} --end {partition - dt.timedelta(days=1)}`")
