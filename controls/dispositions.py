"""Dispositions of exceptions as the ledger holds them (kind "signoff"), latest last.

An exception can be signed off more than once (a correction, or `reopened` after new evidence); every
sign-off stays in the ledger and the latest one decides whether the exception is open.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from ledger import LedgerRecord

KIND = "signoff"
DISPOSITIONS = ("accepted", "remediated", "false_positive", "duplicate", "reopened")
"""accepted: a real exception, risk accepted; remediated: fixed (data reloaded, re-run passed);
false_positive: the control misfired; duplicate: covered by another exception; reopened: open again."""


@dataclasses.dataclass(frozen=True)
class Signoff:
    exception_id: str
    version: int
    by: str
    disposition: str
    note: str
    signed_at: dt.datetime
    record: LedgerRecord

    @property
    def closes(self) -> bool:
        return self.disposition != "reopened"


def signoffs(ledger, start: dt.date | None = None, end: dt.date | None = None) -> dict[str, list[Signoff]]:
    """Exception id -> its sign-offs in ledger order, for exceptions of partitions in [start, end]."""
    out: dict[str, list[Signoff]] = {}
    for record in ledger.records(kind=KIND, start=start, end=end):
        p = record.payload
        out.setdefault(p["exception_id"], []).append(Signoff(
            exception_id=p["exception_id"], version=p["version"], by=p["by"], disposition=p["disposition"],
            note=p["note"], signed_at=dt.datetime.fromisoformat(p["signed_at"]), record=record))
    return out
