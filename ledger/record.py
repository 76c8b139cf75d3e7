"""What one ledger record is, and what a caller may put in one.

Validation happens here, before any database work, so a bad append fails with the offending field
and value instead of a driver error halfway through a locked transaction.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from ledger.canonical import canonical_json
from ledger.errors import LedgerEntryError

MAX_KIND_LENGTH = 64
MAX_KEY_LENGTH = 512


@dataclasses.dataclass(frozen=True)
class LedgerRecord:
    """One immutable ledger entry. `created` is False when `append` found the key already recorded."""

    seq: int
    recorded_at: dt.datetime
    kind: str
    key: str
    partition: dt.date | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str
    created: bool = False

    @property
    def payload_json(self) -> str:
        """The canonical payload text that the hash covers."""
        return canonical_json(self.payload)


@dataclasses.dataclass(frozen=True)
class Entry:
    """A validated append request: everything of a record except what the chain decides."""

    kind: str
    key: str
    partition: dt.date | None
    payload_json: str

    @property
    def payload(self) -> dict[str, Any]:
        """The payload as it will read back: tuples became lists, etc."""
        return json.loads(self.payload_json)


def _check_label(field: str, value: object, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LedgerEntryError(field, "must be a non-empty string", value)
    if value != value.strip():
        raise LedgerEntryError(field, "must not start or end with whitespace", value)
    if len(value) > max_length:
        raise LedgerEntryError(field, f"must be at most {max_length} characters", value)
    return value


def make_entry(kind: object, key: object, payload: object, partition: object) -> Entry:
    """Validate append arguments and canonicalise the payload once."""
    kind = _check_label("kind", kind, MAX_KIND_LENGTH)
    key = _check_label("key", key, MAX_KEY_LENGTH)
    # datetime is a subclass of date; a timestamp here would silently lose its time, so refuse it.
    if partition is not None and (not isinstance(partition, dt.date) or isinstance(partition, dt.datetime)):
        raise LedgerEntryError("partition", "must be a datetime.date or None", partition)
    if not isinstance(payload, dict):
        raise LedgerEntryError("payload", "must be a dict (a JSON object)", payload)
    try:
        payload_json = canonical_json(payload)
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise LedgerEntryError("payload", f"is not exactly representable as JSON: {exc}", payload) from exc
    return Entry(kind=kind, key=key, partition=partition, payload_json=payload_json)
