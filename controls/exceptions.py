"""Exceptions: every failed control execution and every missed scheduled run of a period.

Derived, never stored: the run list (`controls.executions`, read from the ledger) says which control
failed, found an anomaly or did not run on which partition, and the ledger's "signoff" records say
what a person decided about it. The id `<control>@<partition>:<failed|anomaly|missed>` is stable, so a
sign-off made today still matches when the report of the quarter is written.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from controls.dispositions import Signoff, signoffs
from controls.errors import ControlError
from controls.executions import ControlDay, run_list
from controls.registry import SCHEDULE_CONTROL, ControlSettings

TYPES = ("failed", "anomaly", "missed")


@dataclasses.dataclass(frozen=True)
class ControlException:
    id: str
    control_id: str
    partition: dt.date
    type: str
    detail: str
    owner: str
    raised_at: dt.datetime | None        # when the ledger first showed it; None while nothing later ran
    evidence: tuple[tuple[int, str], ...]  # (seq, hash) of the ledger records it is derived from
    signoffs: tuple[Signoff, ...] = ()

    @property
    def latest(self) -> Signoff | None:
        return self.signoffs[-1] if self.signoffs else None

    @property
    def status(self) -> str:
        return "closed" if self.latest is not None and self.latest.closes else "open"

    @property
    def disposition(self) -> str | None:
        return self.latest.disposition if self.latest is not None else None

    @property
    def hours_to_disposition(self) -> float | None:
        """From raised to the first sign-off that closed it."""
        first = next((s for s in self.signoffs if s.closes), None)
        if first is None or self.raised_at is None:
            return None
        return round((first.signed_at - self.raised_at).total_seconds() / 3600, 2)


def parse_exception_id(text: str) -> tuple[str, dt.date, str]:
    """`<control>@<YYYY-MM-DD>:<type>` -> (control id, partition, type); ControlError naming the value."""
    control_id, at, rest = text.rpartition("@")
    day, _, kind = rest.partition(":")
    try:
        partition = dt.date.fromisoformat(day)
    except ValueError:
        partition = None
    if not at or not control_id or partition is None or kind not in TYPES:
        raise ControlError(f"exception id must look like <control>@<YYYY-MM-DD>:<{'|'.join(TYPES)}>, "
                           f"e.g. schedule:daily@2026-10-03:missed (got {text!r})")
    return control_id, partition, kind


def derive_exceptions(settings: ControlSettings, ledger, start: dt.date, end: dt.date, *,
                      rows: list[ControlDay] | None = None, open_only: bool = False) -> list[ControlException]:
    """Exceptions of partitions in [start, end], by partition then id, with their sign-offs; `rows`:
    the run list of the period when the caller already has it."""
    owners = {c.id: c.owner for c in settings.controls}
    rows = run_list(settings.controls, ledger, start, end) if rows is None else rows
    decided = signoffs(ledger, start, end)
    later_runs = _first_later_run(ledger, [r.partition for r in rows
                                                if r.control_id == SCHEDULE_CONTROL and r.status == "missed"])
    out = []
    for row in rows:
        if row.exception_type is None:
            continue
        evidence = row.failures or row.executions
        if row.exception_type == "missed":
            raised = (later_runs.get(row.partition) if row.control_id == SCHEDULE_CONTROL
                      else _run_time(ledger, row.partition))
            detail = row.note
        else:
            raised = min(e.record.recorded_at for e in row.failures)
            detail = "; ".join(dict.fromkeys(e.detail for e in row.failures))
        exc = ControlException(
            id=row.exception_id, control_id=row.control_id, partition=row.partition, type=row.exception_type,
            detail=detail, owner=owners.get(row.control_id, ""), raised_at=raised,
            evidence=tuple((e.record.seq, e.record.hash) for e in evidence),
            signoffs=tuple(decided.get(row.exception_id, ())))
        if not open_only or exc.status == "open":
            out.append(exc)
    derived = {e.id for e in out} | {r.exception_id for r in rows}
    for exception_id, history in decided.items():
        if exception_id not in derived:   # signed off, then superseded: keep the sign-off in sight
            exc = _superseded(exception_id, history, owners)
            if not open_only or exc.status == "open":
                out.append(exc)
    return sorted(out, key=lambda e: (e.partition, e.id))


def _superseded(exception_id: str, history: list[Signoff], owners: dict[str, str]) -> ControlException:
    """A signed-off exception the ledger no longer supports: a missed partition that was run later."""
    control_id, partition, kind = parse_exception_id(exception_id)
    checked = history[0].record.payload.get("checked", {})
    raised = checked.get("raised_at")
    return ControlException(
        id=exception_id, control_id=control_id, partition=partition, type=kind,
        detail=f"superseded by a later execution; when signed off: {checked.get('detail', '')}",
        owner=owners.get(control_id, ""), raised_at=dt.datetime.fromisoformat(raised) if raised else None,
        evidence=tuple((e["seq"], e["hash"]) for e in checked.get("evidence", [])), signoffs=tuple(history))


def _first_later_run(ledger, missed: list[dt.date]) -> dict[dt.date, dt.datetime]:
    """Missed partition -> when the ledger first recorded a run of a later partition (the miss showed)."""
    if not missed:
        return {}
    out: dict[dt.date, dt.datetime] = {}
    for record in ledger.records(kind="run", start=min(missed) + dt.timedelta(days=1)):
        for day in missed:
            if day not in out and record.partition > day:
                out[day] = record.recorded_at
    return out


def _run_time(ledger, day: dt.date) -> dt.datetime | None:
    runs = [r for r in ledger.records(kind="run", start=day, end=day) if r.payload.get("status") == "success"]
    return runs[0].recorded_at if runs else None
