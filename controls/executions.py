"""Expected vs executed: which control ran on which partition, read from the ledger alone.

Every daily control is expected once per partition. A ledger record of kind "pull", "check",
"detector" or "run" is one execution of the control it belongs to; its outcome comes from its payload.
A partition without a successful run record is `missed` for every control; a control that did not run
although the day's run succeeded is `not_executed`; a suite or reconciliation that could not run
because its partition was missing is `skipped` (the pull's exception covers it).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from controls.registry import SCHEDULE_CONTROL, Control, ratio_check_name
from ledger import LedgerRecord

EXECUTION_KINDS = ("pull", "check", "detector", "run")


@dataclasses.dataclass(frozen=True)
class Execution:
    """One ledger record that executed a control. `failed` is True for a failure or an anomaly."""

    control_id: str
    partition: dt.date
    failed: bool
    detail: str
    record: LedgerRecord


@dataclasses.dataclass(frozen=True)
class ControlDay:
    """A control on one partition: expected once, executed `len(executions)` times."""

    control_id: str
    partition: dt.date
    status: str                  # ok, exception, missed, not_executed, skipped
    executions: tuple[Execution, ...]
    note: str = ""
    refers_to: str = ""          # a missed or skipped day points at the exception that explains it

    @property
    def failures(self) -> tuple[Execution, ...]:
        return tuple(e for e in self.executions if e.failed)

    @property
    def exception_type(self) -> str | None:
        """The type of the exception this row raises itself, if any: failed, anomaly or missed."""
        if self.status == "exception":
            return "anomaly" if self.control_id.startswith("detect:") else "failed"
        if self.status == "not_executed" or (self.status == "missed" and self.control_id == SCHEDULE_CONTROL):
            return "missed"
        return None

    @property
    def exception_id(self) -> str:
        """The exception raised by this row, or the one it refers to; "" for a clean execution."""
        kind = self.exception_type
        return exception_id(self.control_id, self.partition, kind) if kind else self.refers_to


def exception_id(control_id: str, partition: dt.date, kind: str) -> str:
    """Stable exception id: `<control>@<partition>:<failed|anomaly|missed>`."""
    return f"{control_id}@{partition.isoformat()}:{kind}"


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def executions(ledger, controls: Sequence[Control], start: dt.date, end: dt.date) -> list[Execution]:
    """Executions of `controls` on partitions in [start, end], in ledger order."""
    known = {c.id for c in controls}
    ratio_checks = {ratio_check_name(c.subject): c.id for c in controls if c.kind == "reconcile"}
    out = []
    for kind in EXECUTION_KINDS:
        for record in ledger.records(kind=kind, start=start, end=end):
            execution = _execution(record, ratio_checks)
            if execution is not None and execution.control_id in known:
                out.append(execution)
    return sorted(out, key=lambda e: e.record.seq)


def run_list(controls: Sequence[Control], ledger, start: dt.date, end: dt.date) -> list[ControlDay]:
    """One row per control and partition of [start, end], from the executions `ledger` records;
    within each day the rows follow the order of `controls` (the registry's, by id)."""
    by_key: dict[tuple[str, dt.date], list[Execution]] = {}
    for e in executions(ledger, controls, start, end):
        by_key.setdefault((e.control_id, e.partition), []).append(e)
    rows = []
    for day in days(start, end):
        runs = by_key.get((SCHEDULE_CONTROL, day), [])
        ran = any(not e.failed for e in runs)
        schedule_ref = exception_id(SCHEDULE_CONTROL, day, "failed" if runs else "missed")
        missing_tables = {e.record.payload.get("table") for c in controls if c.kind == "pull"
                          for e in by_key.get((c.id, day), []) if e.failed}
        for control in controls:
            done = tuple(by_key.get((control.id, day), ()))
            rows.append(_status(control, day, done, ran, missing_tables, schedule_ref))
    return rows


def _status(control: Control, day: dt.date, done: tuple[Execution, ...], ran: bool,
            missing_tables: set, schedule_ref: str) -> ControlDay:
    if any(e.failed for e in done):
        return ControlDay(control.id, day, "exception", done)
    if done:
        return ControlDay(control.id, day, "ok", done)
    if not ran:
        return ControlDay(control.id, day, "missed", done, "no successful run for this partition",
                          refers_to="" if control.id == SCHEDULE_CONTROL else schedule_ref)
    inputs = {control.subject} if control.kind == "suite" else (
        {control.precision["client_table"], control.precision["warehouse_table"]}
        if control.kind == "reconcile" else set())
    blocked = sorted(inputs & missing_tables)
    if blocked:
        return ControlDay(control.id, day, "skipped", done,
                          "input partition missing: " + ", ".join(f"pull:{t}" for t in blocked),
                          refers_to=exception_id(f"pull:{blocked[0]}", day, "failed"))
    return ControlDay(control.id, day, "not_executed", done, "the day's run succeeded without this control")


def _execution(record: LedgerRecord, ratio_checks: dict[str, str]) -> Execution | None:
    p, day = record.payload, record.partition
    if day is None:
        return None
    if record.kind == "pull":
        status = p.get("status")
        return Execution(f"pull:{p.get('table')}", day, status != "ok",
                         f"{p.get('row_count')} rows (v{p.get('version')})" if status == "ok"
                         else f"partition {status}", record)
    if record.kind == "check":
        suite = p.get("suite")
        control_id = ratio_checks.get(suite) or f"suite:{p.get('table')}"
        failed = [str(x) for x in p.get("failed") or []]
        ok = bool(p.get("success"))
        return Execution(control_id, day, not ok, f"{suite} passed" if ok
                         else f"{suite} failed: {', '.join(failed) or 'no result'}", record)
    if record.kind == "detector":
        anomalies = [str(x) for x in p.get("anomalies") or []]
        shown = ", ".join(anomalies[:5]) + (f" and {len(anomalies) - 5} more" if len(anomalies) > 5 else "")
        return Execution(f"detect:{p.get('subject')}", day, bool(anomalies),
                         f"{len(anomalies)} anomalous slice(s): {shown}" if anomalies else "no anomaly", record)
    if record.kind == "run":
        status = p.get("status") or "failed"
        return Execution(SCHEDULE_CONTROL, day, status != "success",
                         f"run {status}" + (f": {p['error']}" if p.get("error") else ""), record)
    return None
