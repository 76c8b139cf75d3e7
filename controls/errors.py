"""Errors of the SOX control registry and its exception workflow, under `MqError` (one line in the CLI)."""
from __future__ import annotations

from core.errors import MqError


class ControlError(MqError):
    """A control definition, exception or sign-off request is invalid."""


class UnknownExceptionError(ControlError):
    """A sign-off names an exception id that the ledger does not support."""

    def __init__(self, exception_id: str, known: list[str]) -> None:
        self.exception_id, self.known = exception_id, known
        shown = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
        hint = f"; exceptions of that partition: {shown}" if known else "; that partition has no exceptions"
        super().__init__(f"{type(self).__name__}: no exception {exception_id!r}{hint}")
