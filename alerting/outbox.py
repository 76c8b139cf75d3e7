"""The durable outbox: nothing routed is lost, nothing is sent twice.

`enqueue` stores a notification for a receiver, once per (receiver, notification key): re-runs of a
pipeline never double-send. `drain` delivers what is due:

* a worker claims a row with one atomic `UPDATE ... WHERE status = 'pending'`, so any number of
  concurrent drains (threads or processes, on PostgreSQL) send each item exactly once;
* a passing failure (429, 5xx, timeout) leaves the item pending with `attempts`, `last_error` and
  `next_attempt_at` pushed back exponentially (never before the Retry-After the far side asked for);
* a failure a human must fix (bad token, unknown channel) also leaves it pending, with `last_error`
  saying what to fix; the receiver is skipped for the rest of that drain, and a drain after the fix
  delivers everything it holds;
* repeats and resolutions wait for their thread's firing message, whose reference (the Slack ts) is
  kept per (receiver, thread_key) in `mq_outbox_threads`.

A worker that dies mid-delivery leaves its claim behind; after `lease_seconds` the item is pending
again (delivery is at-least-once in that case only).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass, fields
from typing import Mapping

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from alerting.notification import Notification, RetryableDeliveryError
from alerting.receivers import Receiver
from core.errors import DeliveryError
from core.faults import crash_point
from core.tables import require_tables
from core.timeutil import utcnow

log = logging.getLogger(__name__)

_UPSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}  # INSERT ... ON CONFLICT


class UTCDateTime(sa.types.TypeDecorator):
    """Timestamps stored as naive UTC on every backend, returned as aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=dt.timezone.utc) if value is not None else None


metadata = sa.MetaData()

outbox_table = sa.Table(
    "mq_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("receiver", sa.String(200), nullable=False),
    sa.Column("key", sa.String(500), nullable=False),
    sa.Column("thread_key", sa.String(500), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | sending | delivered
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("failure_kind", sa.String(16)),  # retryable | permanent
    sa.Column("partial_ref", sa.String(100)),
    sa.Column("claimed_by", sa.String(64)),
    sa.Column("claimed_at", UTCDateTime),
    sa.Column("delivery_ref", sa.String(100)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("delivered_at", UTCDateTime),
    sa.UniqueConstraint("receiver", "key", name="uq_mq_outbox_receiver_key"),
    sa.Index("ix_mq_outbox_due", "status", "next_attempt_at"),
)

threads_table = sa.Table(
    "mq_outbox_threads",
    metadata,
    sa.Column("receiver", sa.String(200), primary_key=True),
    sa.Column("thread_key", sa.String(500), primary_key=True),
    sa.Column("thread_ref", sa.String(100), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)


@dataclass(frozen=True)
class OutboxItem:
    id: int
    receiver: str
    key: str
    thread_key: str
    action: str
    title: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    failure_kind: str | None
    delivery_ref: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


@dataclass(frozen=True)
class DrainSummary:
    delivered: int
    retried: int
    failed_permanent: int
    pending: int


class Outbox:
    def __init__(
        self,
        engine: sa.Engine | str,
        *,
        base_backoff_seconds: float = 30.0,
        max_backoff_seconds: float = 3600.0,
        lease_seconds: float = 600.0,
    ) -> None:
        if base_backoff_seconds < 0 or max_backoff_seconds < base_backoff_seconds:
            raise ValueError(
                f"{type(self).__name__}: need 0 <= base_backoff_seconds <= max_backoff_seconds "
                f"(got {base_backoff_seconds!r}, {max_backoff_seconds!r})"
            )
        self.engine = sa.create_engine(engine) if isinstance(engine, str) else engine
        if self.engine.dialect.name not in _UPSERT:
            raise ValueError(f"{type(self).__name__}: the state store must be SQLite or PostgreSQL "
                             f"(got {self.engine.dialect.name!r})")
        self.base_backoff_seconds = base_backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.lease_seconds = lease_seconds

    def install(self) -> None:
        """Check that the state store's migrations created the outbox's tables."""
        require_tables(self.engine, metadata.tables, "outbox")

    # -- writing -------------------------------------------------------------------------------------

    def enqueue(self, receiver: str, n: Notification, *, now: dt.datetime | None = None,
                conn: sa.Connection | None = None) -> bool:
        """Store `n` for `receiver`; False when this (receiver, key) is already there (sent or not).

        `conn`: write inside the caller's transaction (the alert stage queues in the same transaction
        that records its decisions, so a crash leaves both or neither)."""
        now = _utc(now)
        row = {
            "receiver": receiver, "key": n.key, "thread_key": n.thread_key, "action": n.action,
            "title": n.title, "payload": json.dumps(n.to_json(), sort_keys=True), "status": "pending",
            "attempts": 0, "next_attempt_at": now, "created_at": now,
        }
        stmt = _UPSERT[self.engine.dialect.name](outbox_table).values(**row)
        # RETURNING, not rowcount: with an autoincrement key SQLAlchemy reports rowcount -1 on PostgreSQL
        stmt = stmt.on_conflict_do_nothing(index_elements=["receiver", "key"]).returning(outbox_table.c.id)
        crash_point("outbox.enqueue")
        if conn is not None:
            return conn.execute(stmt).first() is not None
        with self.engine.begin() as own:
            return own.execute(stmt).first() is not None

    # -- delivering ----------------------------------------------------------------------------------

    def drain(
        self,
        receivers: Mapping[str, Receiver],
        *,
        now: dt.datetime | None = None,
        max_attempts_per_call: int = 100,
    ) -> DrainSummary:
        """Deliver due items, oldest first, making at most `max_attempts_per_call` delivery attempts.

        Items for receivers not in `receivers` are left alone.
        """
        now = _utc(now)
        worker = uuid.uuid4().hex
        self._release_stale_claims(now)
        delivered = retried = failed = attempts = 0
        blocked: set[str] = set()
        after_id = 0
        while attempts < max_attempts_per_call:
            batch = self._due(now, after_id, [r for r in receivers if r not in blocked])
            if not batch:
                break
            for row in batch:
                after_id = row.id
                if attempts >= max_attempts_per_call:
                    break
                if row.receiver in blocked:
                    continue
                thread_ref = self._thread_ref(row.receiver, row.thread_key)
                if row.action != "firing" and thread_ref is None and self._parent_pending(row):
                    continue  # its firing message goes first, in this drain or a later one
                if not self._claim(row.id, worker, now):
                    continue  # another worker has it
                attempts += 1
                outcome = self._deliver_claimed(row.id, worker, receivers[row.receiver], now)
                delivered += outcome == "delivered"
                retried += outcome == "retried"
                if outcome == "failed":
                    failed += 1
                    blocked.add(row.receiver)
        return DrainSummary(delivered, retried, failed, self._count_pending())

    def _deliver_claimed(self, item_id: int, worker: str, receiver: Receiver, now: dt.datetime) -> str:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(outbox_table).where(outbox_table.c.id == item_id)).one()
        n = Notification.from_json(json.loads(row.payload))
        ref = row.partial_ref if n.action == "firing" else self._thread_ref(row.receiver, row.thread_key)
        try:
            delivery_ref = receiver.deliver(n, ref)
        except RetryableDeliveryError as exc:
            delay = self._backoff(row.attempts + 1, exc.retry_after)
            self._release(row, worker, str(exc), "retryable", now + dt.timedelta(seconds=delay), exc.partial_ref)
            log.warning("outbox: %s for %s retries in %.0fs: %s", row.key, row.receiver, delay, exc)
            return "retried"
        except DeliveryError as exc:
            self._release(row, worker, str(exc), "permanent", now, getattr(exc, "partial_ref", None))
            log.error("outbox: %s for %s needs a fix and stays queued: %s", row.key, row.receiver, exc)
            return "failed"
        except Exception as exc:  # a bug in a receiver must not lose the notification either
            delay = self._backoff(row.attempts + 1, None)
            message = f"unexpected {type(exc).__name__}: {exc}"
            self._release(row, worker, message, "retryable", now + dt.timedelta(seconds=delay), None)
            log.exception("outbox: %s for %s failed unexpectedly", row.key, row.receiver)
            return "retried"
        with self.engine.begin() as conn:
            conn.execute(
                outbox_table.update()
                .where(outbox_table.c.id == row.id, outbox_table.c.claimed_by == worker)
                .values(status="delivered", attempts=row.attempts + 1, delivery_ref=delivery_ref,
                        delivered_at=now, last_error=None, failure_kind=None, claimed_by=None, claimed_at=None)
            )
            if delivery_ref and (n.action == "firing" or ref is None):
                self._save_thread_ref(conn, row.receiver, row.thread_key, delivery_ref, now)
        return "delivered"

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        delay = min(self.base_backoff_seconds * 2 ** max(attempts - 1, 0), self.max_backoff_seconds)
        return max(delay, retry_after or 0.0)

    def make_due(self, *, now: dt.datetime | None = None) -> int:
        """Every pending item due now, whatever its backoff (`mq alerts deliver --now`); returns how many."""
        now, t = _utc(now), outbox_table.c
        with self.engine.begin() as conn:
            return conn.execute(outbox_table.update().where(t.status == "pending", t.next_attempt_at > now)
                                .values(next_attempt_at=now)).rowcount

    def _release(self, row, worker: str, error: str, kind: str, next_at: dt.datetime, partial: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                outbox_table.update()
                .where(outbox_table.c.id == row.id, outbox_table.c.claimed_by == worker)
                .values(status="pending", attempts=row.attempts + 1, last_error=error, failure_kind=kind,
                        next_attempt_at=next_at, partial_ref=partial or row.partial_ref,
                        claimed_by=None, claimed_at=None)
            )

    def _claim(self, item_id: int, worker: str, now: dt.datetime) -> bool:
        t = outbox_table.c
        with self.engine.begin() as conn:
            result = conn.execute(
                outbox_table.update()
                .where(t.id == item_id, t.status == "pending", t.next_attempt_at <= now)
                .values(status="sending", claimed_by=worker, claimed_at=now)
            )
            return result.rowcount == 1

    def _release_stale_claims(self, now: dt.datetime) -> None:
        t = outbox_table.c
        cutoff = now - dt.timedelta(seconds=self.lease_seconds)
        with self.engine.begin() as conn:
            conn.execute(
                outbox_table.update()
                .where(t.status == "sending", t.claimed_at < cutoff)
                .values(status="pending", claimed_by=None, claimed_at=None, failure_kind="retryable",
                        last_error="a delivery was interrupted (worker stopped); retrying, may duplicate")
            )

    def _due(self, now: dt.datetime, after_id: int, receivers: list[str], batch: int = 50) -> list:
        if not receivers:
            return []
        t = outbox_table.c
        query = (
            sa.select(t.id, t.receiver, t.thread_key, t.action)
            .where(t.status == "pending", t.next_attempt_at <= now, t.id > after_id, t.receiver.in_(receivers))
            .order_by(t.id)
            .limit(batch)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def _parent_pending(self, row) -> bool:
        t = outbox_table.c
        query = sa.select(sa.func.count()).where(
            t.receiver == row.receiver, t.thread_key == row.thread_key, t.id < row.id, t.status != "delivered"
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one() > 0

    # -- threads -------------------------------------------------------------------------------------

    def _thread_ref(self, receiver: str, thread_key: str) -> str | None:
        t = threads_table.c
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(t.thread_ref).where(t.receiver == receiver, t.thread_key == thread_key)
            ).scalar_one_or_none()

    @staticmethod
    def _save_thread_ref(conn, receiver: str, thread_key: str, ref: str, now: dt.datetime) -> None:
        stmt = _UPSERT[conn.dialect.name](threads_table).values(
            receiver=receiver, thread_key=thread_key, thread_ref=ref, updated_at=now)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["receiver", "thread_key"], set_={"thread_ref": ref, "updated_at": now}))

    # -- reading -------------------------------------------------------------------------------------

    def pending(self) -> list[OutboxItem]:
        """Everything not yet delivered, oldest first (what `mq alerts outbox` shows)."""
        return self._items(outbox_table.c.status != "delivered")

    def items(self) -> list[OutboxItem]:
        """Every item, delivered or not, oldest first."""
        return self._items(sa.true())

    def _items(self, where) -> list[OutboxItem]:
        names = [f.name for f in fields(OutboxItem)]
        query = sa.select(*(outbox_table.c[name] for name in names)).where(where).order_by(outbox_table.c.id)
        with self.engine.connect() as conn:
            return [OutboxItem(**dict(zip(names, row))) for row in conn.execute(query)]

    def _count_pending(self) -> int:
        t = outbox_table.c
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).where(t.status != "delivered")).scalar_one()


def _utc(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware (got naive {now!r})")
    return now.astimezone(dt.timezone.utc)
