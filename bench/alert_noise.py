"""Alerts per incident and false alerts on the demo, before and after suppression.

    .venv/bin/python bench/alert_noise.py [--demo demo_out]

Reads the state of a finished `mq demo` run (same detector output for both columns):
  before  - raw findings: every (fingerprint, partition) the detectors and checks flagged
  after   - what reached people: notifications sent (one per incident group and action)
A finding or notification is "true" when its partition falls in an injected incident's window, and
"false" otherwise; the holiday is an incident that must stay silent.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]


def window_of(day: dt.date, incidents: list[dict]) -> str | None:
    for inc in incidents:
        if dt.date.fromisoformat(inc["start"]) <= day <= dt.date.fromisoformat(inc["end"]):
            return inc["id"]
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", default=str(REPO / "demo_out"))
    args = ap.parse_args()
    demo = Path(args.demo)
    truth = json.loads((demo / "warehouse" / "incidents.json").read_text())
    incidents = truth["incidents"]
    engine = sa.create_engine(f"sqlite:///{demo / 'state.db'}")
    with engine.connect() as conn:
        decisions = conn.execute(sa.text("SELECT fingerprint, partition, decision FROM mq_alert_decisions")).all()
    findings = [(fp, dt.date.fromisoformat(str(p))) for fp, p, d in decisions if d not in (
        "resolve", "clean", "resolved_quietly", "resolved_in_thread")]
    sent = [json.loads(x)["notification"] for x in (demo / "alerts" / "notifications.jsonl").read_text().splitlines()]
    firing = [n for n in sent if n["action"] == "firing"]
    before = Counter(window_of(day, incidents) for _, day in findings)
    after = Counter(window_of(dt.date.fromisoformat(n["partition"]), incidents) for n in firing)
    days = (dt.date.fromisoformat(truth["spec"]["end"]) - dt.date.fromisoformat(truth["spec"]["start"])).days + 1
    print(f"demo: {days} days, {len(incidents)} incidents; suppression = dedup, incidents, grouping, "
          f"inhibition, FDR-controlled detector output shared by both columns")
    print(f"{'incident':20s} {'should alert':>12s} {'findings (before)':>18s} {'notifications (after)':>22s}")
    for inc in incidents:
        print(f"{inc['id']:20s} {str(inc['should_alert']):>12s} {before.get(inc['id'], 0):18d} "
              f"{after.get(inc['id'], 0):22d}")
    print(f"{'outside incidents':20s} {'False':>12s} {before.get(None, 0):18d} {after.get(None, 0):22d}")
    resolved = sum(1 for n in sent if n["action"] == "resolved")
    replies = sum(1 for n in sent if n["action"] == "repeat")
    print(f"\nfalse alerts per day: before {before.get(None, 0) / days:.3f}, after {after.get(None, 0) / days:.3f}; "
          f"thread replies: {replies} still firing / slices joining, {resolved} resolved")


if __name__ == "__main__":
    sys.exit(main())
