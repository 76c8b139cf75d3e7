"""Audit tasks: verify the ledger's hash chain, and write the SOX evidence report of a closed period."""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from pathlib import Path

from mq.airflow.tasks import open_pipeline

log = logging.getLogger("mq.airflow.audit")


def verify_ledger(config_path: str, expected_head: str | None = None,
                  expected_count: int | None = None) -> dict:
    """Verify the chain (and that it still holds an earlier head and count). A broken chain is notified."""
    with open_pipeline(config_path) as pipe:
        v = pipe.ledger.verify(expected_head=expected_head, expected_count=expected_count)
        result = {"ok": v.ok, "count": v.count, "head_hash": v.head_hash,
                  "first_bad_seq": v.first_bad_seq, "problem": v.problem}
        if not v.ok:
            notify_broken_ledger(pipe, result, dt.datetime.now(dt.timezone.utc).date())
        return result


def notify_broken_ledger(pipe, result: dict, today: dt.date) -> None:
    """Queue a critical notification to the root route's receiver and try to deliver it now."""
    from alerting.notification import AlertLine, Notification
    from alerting.route import route

    labels = {"kind": "ledger", "severity": "critical"}
    receivers = {d.receiver for d in route(pipe.config.alerting.route, labels)}
    problem = f"record {result['first_bad_seq']}: {result['problem']}"
    key = "ledger-broken:" + hashlib.sha256(problem.encode()).hexdigest()[:16]
    line = AlertLine(fingerprint=key, kind="ledger", metric="audit_ledger", labels={},
                     partition=today.isoformat(), severity="critical",
                     message=f"audit ledger verification failed at {problem} ({result['count']} records)")
    note = Notification(key=key, thread_key="ledger-integrity", action="firing",
                        title=f"audit ledger BROKEN at record {result['first_bad_seq']}", severity="critical",
                        kind="ledger", metric="audit_ledger", partition=today.isoformat(), alerts=(line,))
    for receiver in sorted(receivers):
        pipe.outbox.enqueue(receiver, note)
    summary = pipe.deliver()
    log.error("ledger broken at %s; notified %s (delivered %s, pending %s)", problem, sorted(receivers),
              summary.delivered, summary.pending)


def period_of(context) -> tuple[dt.date, dt.date, dt.datetime]:
    """(first day, last day, interval end) of a report run's closed period: its data interval."""
    from mq.airflow.partition import _utc

    start, end = _utc(context["data_interval_start"]), _utc(context["data_interval_end"])
    return start.date(), (end - dt.timedelta(days=1)).date(), end


def period_status(config_path: str, start: dt.date, end: dt.date) -> dict:
    """How many partitions of [start, end] have a successful run in the store."""
    with open_pipeline(config_path) as pipe:
        runs = pipe.store.runs(start, end)
        done = sorted({p.isoformat() for p in runs[runs.status == "success"].partition})
    days = (end - start).days + 1
    return {"start": start.isoformat(), "end": end.isoformat(), "days": days, "complete_days": len(done),
            "complete": len(done) == days}


def write_report(config_path: str, start: dt.date, end: dt.date, out_root: Path | None = None) -> dict:
    """reports/sox.py's evidence for [start, end] under <out_root>/<start>_<end>/; returns its path."""
    from reports.sox import write_sox_report

    with open_pipeline(config_path) as pipe:
        root = Path(out_root) if out_root else pipe.config.workdir_path / "reports" / "sox"
        path = write_sox_report(pipe, start, end, root / f"{start.isoformat()}_{end.isoformat()}")
        head = pipe.ledger.verify()
    return {"report": str(path), "start": start.isoformat(), "end": end.isoformat(),
            "ledger_ok": head.ok, "ledger_head": head.head_hash, "ledger_count": head.count}
