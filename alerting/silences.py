"""Silences: a person mutes alerts matching some labels, with a reason and a mandatory expiry."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from alerting.schema import silences as table
from core.errors import MqError
from core.timeutil import assume_utc, utcnow


@dataclass(frozen=True)
class Silence:
    id: int
    matchers: dict[str, str]
    author: str
    reason: str
    created_at: dt.datetime
    expires_at: dt.datetime
    expired_at: dt.datetime | None
    expired_by: str | None = None

    def active(self, at: dt.datetime) -> bool:
        return self.expired_at is None and assume_utc(self.expires_at) > at


class Silences:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def create(self, matchers: dict[str, str], *, author: str, reason: str,
               expires_at: dt.datetime, now: dt.datetime | None = None) -> Silence:
        now = now or utcnow()
        if not matchers:
            raise MqError("silence: give at least one matcher (label=value); a silence of everything is refused")
        if not author.strip() or not reason.strip():
            raise MqError("silence: --author and --reason are required")
        if assume_utc(expires_at) <= now:
            raise MqError(f"silence: --expires must be in the future (got {expires_at.isoformat()})")
        with self.engine.begin() as conn:
            sid = conn.execute(table.insert().values(matchers=matchers, author=author, reason=reason,
                                                     created_at=now, expires_at=expires_at)).inserted_primary_key[0]
        return self.get(sid)

    def get(self, silence_id: int) -> Silence:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == silence_id)).mappings().first()
        if row is None:
            raise MqError(f"silence {silence_id} does not exist")
        return Silence(**row)

    def expire(self, silence_id: int, *, by: str, now: dt.datetime | None = None) -> Silence:
        self.get(silence_id)
        with self.engine.begin() as conn:
            conn.execute(table.update().where(table.c.id == silence_id, table.c.expired_at.is_(None))
                         .values(expired_at=now or utcnow(), expired_by=by))
        return self.get(silence_id)

    def all(self) -> list[Silence]:
        with self.engine.connect() as conn:
            return [Silence(**r) for r in conn.execute(sa.select(table).order_by(table.c.id)).mappings()]
