"""The control evidence of a period as tables an auditor can sample, all read from the ledger.

- controls: the registry, each control's definition hash and the version the ledger holds
- control_runs: expected vs executed per control and partition; missed runs flagged
- exceptions: every exception with its latest disposition and the time it took
- control_changes: every recorded change of a control definition (all time: the history matters)
- silences: who muted what, why, until when, and how many decisions of the period it muted
"""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from controls import ControlSettings, change_log, derive_exceptions, run_list
from controls.changes import latest_definitions
from ledger.canonical import to_utc

RUN_COLUMNS = ["partition", "control_id", "expected", "executed", "status", "missed", "exception_id", "note",
               "ledger_seqs"]
EXCEPTION_COLUMNS = ["exception_id", "partition", "control_id", "type", "owner", "detail", "raised_at",
                     "evidence_seqs", "status", "disposition", "signed_by", "signed_at", "note", "signoffs",
                     "hours_to_disposition", "signoff_seq"]


def _iso(moment: dt.datetime | None) -> str:
    return to_utc(moment).isoformat() if moment is not None else ""


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def controls_frame(controls, ledger) -> pd.DataFrame:
    """The registry (`controls`), with the definition version `ledger` holds of each control."""
    recorded = latest_definitions(ledger)
    rows = []
    for c in controls:
        rec = recorded.get(c.id)
        current = rec is not None and rec.payload["definition_hash"] == c.definition_hash
        rows.append({"control_id": c.id, "kind": c.kind, "subject": c.subject, "owner": c.owner,
                     "team": c.team or "", "frequency": c.frequency, "objective": c.objective,
                     "precision": json.dumps(c.precision, sort_keys=True), "exception_rule": c.exception_rule,
                     "guards": ";".join(c.guards), "definition_hash": c.definition_hash,
                     "recorded_version": f"v{rec.payload['version']}" if current else "unrecorded",
                     "recorded_at": _iso(rec.recorded_at) if current else ""})
    return _frame(rows, ["control_id", "kind", "subject", "owner", "team", "frequency", "objective", "precision",
                         "exception_rule", "guards", "definition_hash", "recorded_version", "recorded_at"])


def control_runs_frame(rows) -> pd.DataFrame:
    return _frame([{
        "partition": r.partition.isoformat(), "control_id": r.control_id, "expected": 1,
        "executed": len(r.executions), "status": r.status, "missed": r.status in ("missed", "not_executed"),
        "exception_id": r.exception_id, "note": r.note,
        "ledger_seqs": ";".join(str(e.record.seq) for e in r.executions)} for r in rows], RUN_COLUMNS)


def exceptions_frame(found) -> pd.DataFrame:
    rows = []
    for e in found:
        last = e.latest
        rows.append({
            "exception_id": e.id, "partition": e.partition.isoformat(), "control_id": e.control_id,
            "type": e.type, "owner": e.owner, "detail": e.detail, "raised_at": _iso(e.raised_at),
            "evidence_seqs": ";".join(str(seq) for seq, _ in e.evidence), "status": e.status,
            "disposition": e.disposition or "", "signed_by": last.by if last else "",
            "signed_at": _iso(last.signed_at) if last else "", "note": last.note if last else "",
            "signoffs": len(e.signoffs), "hours_to_disposition": e.hours_to_disposition,
            "signoff_seq": last.record.seq if last else ""})
    return _frame(rows, EXCEPTION_COLUMNS)


def control_changes_frame(ledger) -> pd.DataFrame:
    rows = []
    for c in change_log(ledger):
        shown = [f"{f['field']}: {json.dumps(f['before'])} -> {json.dumps(f['after'])}" for f in c.fields]
        rows.append({"seq": c.record.seq, "recorded_at": _iso(c.record.recorded_at), "control_id": c.control_id,
                     "change": c.change, "version": c.version, "definition_hash": c.definition_hash or "",
                     "previous_hash": c.previous_hash or "", "changed_fields": "; ".join(shown),
                     "git_commit": c.record.payload.get("git_commit") or "",
                     "config_hash": c.record.payload.get("config_hash") or ""})
    return _frame(rows, ["seq", "recorded_at", "control_id", "change", "version", "definition_hash",
                         "previous_hash", "changed_fields", "git_commit", "config_hash"])


def silences_frame(ledger, silences, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Every silence of `silences` (the alert book's), with its ledger records and the decisions of
    [start, end] it muted."""
    recorded: dict[tuple[int, str], int] = {}
    for r in ledger.records(kind="silence"):
        recorded.setdefault((r.payload.get("id"), r.key.rsplit(":", 1)[-1]), r.seq)
    muted: dict[int, int] = {}
    for r in ledger.records(kind="alert_decision", start=start, end=end):
        reason = r.payload.get("reason") or ""
        if r.payload.get("decision") == "silenced" and reason.startswith("silence #"):
            sid = reason[len("silence #"):].split(" ", 1)[0]
            if sid.isdigit():
                muted[int(sid)] = muted.get(int(sid), 0) + 1
    rows = [{"silence_id": s.id, "matchers": json.dumps(s.matchers, sort_keys=True), "author": s.author,
             "reason": s.reason, "created_at": _iso(s.created_at), "expires_at": _iso(s.expires_at),
             "expired_at": _iso(s.expired_at), "expired_by": s.expired_by or "",
             "ledger_seq_created": recorded.get((s.id, "created"), ""),
             "ledger_seq_expired": recorded.get((s.id, "expired"), ""),
             "decisions_silenced_in_period": muted.get(s.id, 0)} for s in silences.all()]
    return _frame(rows, ["silence_id", "matchers", "author", "reason", "created_at", "expires_at", "expired_at",
                         "expired_by", "ledger_seq_created", "ledger_seq_expired", "decisions_silenced_in_period"])


def collect_controls(settings: ControlSettings, ledger, silences, start: dt.date, end: dt.date
                     ) -> dict[str, pd.DataFrame]:
    """The control tables of partitions [start, end] from `ledger`; `silences`: the alert book's."""
    rows = run_list(settings.controls, ledger, start, end)
    found = derive_exceptions(settings, ledger, start, end, rows=rows)
    return {"controls": controls_frame(settings.controls, ledger), "control_runs": control_runs_frame(rows),
            "exceptions": exceptions_frame(found), "control_changes": control_changes_frame(ledger),
            "silences": silences_frame(ledger, silences, start, end)}
