"""Time helpers: every timestamp metrics-quality writes is UTC."""
from __future__ import annotations

import datetime as dt

UTC = dt.timezone.utc


def utcnow() -> dt.datetime:
    """Now, timezone-aware, in UTC."""
    return dt.datetime.now(UTC)


def assume_utc(value: dt.datetime | None) -> dt.datetime | None:
    """`value` with UTC attached when it is naive (SQLite hands timestamps back naive; they were written
    in UTC, as is a time typed without a zone); an aware value or None is returned as it is."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
