"""Signing off an exception: who decided what about it, when, and on which evidence.

The sign-off is a ledger record (kind "signoff") whose payload keeps what the person saw: the
exception's detail, the (seq, hash) of every ledger record it was derived from and the control's
definition hash at that moment, so an auditor can re-check exactly what was reviewed. Repeating the
same sign-off adds nothing; a different one is a new version and the latest decides.
"""
from __future__ import annotations

import datetime as dt

from controls.dispositions import DISPOSITIONS, KIND, Signoff, signoffs
from controls.errors import ControlError, UnknownExceptionError
from controls.exceptions import derive_exceptions, parse_exception_id
from controls.registry import ControlSettings
from core.timeutil import utcnow


def sign_off(settings: ControlSettings, ledger, exception_id: str, *, by: str, disposition: str, note: str,
             now: dt.datetime | None = None) -> Signoff:
    """Record a disposition of one exception; raises ControlError for an unknown id or bad arguments."""
    if disposition not in DISPOSITIONS:
        raise ControlError(f"sign-off: disposition must be one of {list(DISPOSITIONS)} (got {disposition!r})")
    for field, value in (("by", by), ("note", note)):
        if not isinstance(value, str) or not value.strip():
            raise ControlError(f"sign-off: --{field} must be a non-empty text (got {value!r})")
    by, note = by.strip(), note.strip()
    control_id, partition, kind = parse_exception_id(exception_id)
    found = {e.id: e for e in derive_exceptions(settings, ledger, partition, partition)}
    if exception_id not in found:
        raise UnknownExceptionError(exception_id, sorted(found))
    exc = found[exception_id]
    latest = exc.latest
    if latest is not None and (latest.by, latest.disposition, latest.note) == (by, disposition, note):
        return latest
    if disposition == "reopened" and exc.status == "open":
        raise ControlError(f"sign-off: {exception_id} is already open; nothing to reopen")
    signed_at = (now or utcnow()).astimezone(dt.timezone.utc)
    control = settings.by_id.get(control_id)
    version = len(exc.signoffs) + 1
    ledger.append(KIND, f"signoff:{exception_id}:v{version}", {
        "exception_id": exception_id, "control_id": control_id, "type": kind, "version": version,
        "by": by, "disposition": disposition, "note": note, "signed_at": signed_at.isoformat(),
        "checked": {
            "detail": exc.detail,
            "raised_at": exc.raised_at.isoformat() if exc.raised_at else None,
            "evidence": [{"seq": seq, "hash": digest} for seq, digest in exc.evidence],
            "control_definition_hash": control.definition_hash if control else None,
            "previous_disposition": exc.disposition,
        }}, partition=partition)
    return signoffs(ledger, partition, partition)[exception_id][-1]
