"""Errors of the audit ledger, all under `core.errors.LedgerError` so the CLI prints them as one line.

A tampered chain is *not* an exception: `verify()` reports it as data (a `Verification`) because an
auditor needs the count, head hash and first bad seq, not a traceback.
"""
from __future__ import annotations

from core.errors import LedgerError


class LedgerEntryError(LedgerError):
    """An append was refused before touching the database: bad kind, key, partition or payload."""

    def __init__(self, field: str, message: str, value: object) -> None:
        self.field, self.value = field, value
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(f"{type(self).__name__}: {field}: {message} (got {shown})")


class LedgerNotInstalledError(LedgerError):
    """The ledger table is missing: the state store's migrations have not been applied to this database."""


class LedgerExportError(LedgerError):
    """An export archive could not be written or read at all (missing file, unwritable path)."""
