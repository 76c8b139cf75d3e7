"""The one byte-exact serialisation behind every ledger hash.

Hashes only mean something if every writer and every verifier (the database check, the export check,
an auditor's own script) turn a record into the same bytes. So the payload is canonical JSON (sorted
keys, no whitespace, UTF-8, no NaN/Infinity) and the hashed fields are packed as one JSON array,
which cannot be made ambiguous by a key or kind that contains a separator character.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json

GENESIS_HASH = "0" * 64
"""prev_hash of seq 1: there is nothing before the first record."""

_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def canonical_json(value: object) -> str:
    """Canonical JSON text of `value`; raises TypeError/ValueError for anything JSON can't carry exactly."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")  # lone surrogates would make the hashed bytes undefined: refuse them here
    return text


def to_utc(moment: dt.datetime) -> dt.datetime:
    """Timezone-aware UTC. Naive values are taken as UTC, which is how SQLite hands them back."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def format_timestamp(moment: dt.datetime) -> str:
    """Fixed-width UTC text with microseconds: the form that is hashed and exported."""
    return to_utc(moment).strftime(_TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> dt.datetime:
    """Inverse of `format_timestamp`."""
    return dt.datetime.strptime(text, _TIMESTAMP_FORMAT).replace(tzinfo=dt.UTC)


def record_hash(
    *,
    seq: int,
    recorded_at: dt.datetime,
    kind: str,
    key: str,
    partition: dt.date | None,
    payload_json: str,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) over the record's fields and the previous record's hash.

    `payload_json` is the canonical payload text itself, so a verifier hashes exactly the stored bytes.
    """
    packed = json.dumps(
        [
            seq,
            format_timestamp(recorded_at),
            kind,
            key,
            partition.isoformat() if partition is not None else None,
            payload_json,
            prev_hash,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(packed.encode("utf-8")).hexdigest()
