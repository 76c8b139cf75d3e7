"""A run on too little history says so in its summary instead of looking like a clean day."""
from __future__ import annotations

import datetime as dt

from mq.history_note import history_note

DAY = dt.date(2026, 8, 3)


def test_a_first_run_says_it_cannot_alert_and_how_to_load_history():
    detections = {"client_events": {"status_counts": {"insufficient_history": 40}},
                  "client_vs_warehouse_events": {"status_counts": {"insufficient_history": 38, "ok": 2}}}
    note = history_note(detections, DAY, 56)
    assert note.startswith("too little history: 78 of 80 series could not be scored")
    assert "mq backfill --start 2026-06-08 --end 2026-08-02" in note


def test_a_few_new_slices_without_history_are_not_worth_a_note():
    detections = {"client_events": {"status_counts": {"ok": 38, "insufficient_history": 2, "holiday": 5}}}
    assert history_note(detections, DAY, 56) is None
