"""The `Ledger`: append, read and verify the hash-chained audit records of one database.

Re-runs and backfills call `append` with the same idempotency key again; the ledger answers with the
record it already holds and writes nothing, so evidence is never double-recorded. A correction is a
new record with a new key that refers to the old one in its payload; nothing is ever edited.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ledger import archive, schema
from ledger.canonical import GENESIS_HASH, record_hash, to_utc
from ledger.chain import ChainChecker, Verification
from ledger.errors import LedgerError, LedgerNotInstalledError
from ledger.locking import write_transaction
from ledger.record import LedgerRecord, make_entry
from ledger.signing import LedgerSigner, LedgerVerifier
from core.faults import crash_point
from core.timeutil import utcnow

_T = schema.ledger_table
_STREAM_BATCH = 1000


class Ledger:
    """Append-only, hash-chained audit ledger stored in table `mq_ledger` of `engine`'s database."""

    def __init__(self, engine: sa.Engine, signer: LedgerSigner | None = None) -> None:
        """`signer`: signs every appended record (see ledger.signing); None appends unsigned records."""
        if not isinstance(engine, sa.Engine):
            raise LedgerError(f"{type(self).__name__}: engine must be a sqlalchemy Engine (got {engine!r})")
        schema.dialect_of(engine)
        self.engine = engine
        self.signer = signer

    def install(self) -> None:
        """Check that the state store's migrations created the table, and re-arm its append-only guards."""
        schema.install(self.engine)

    def append(
        self, kind: str, key: str, payload: dict[str, Any], *, partition: dt.date | None = None,
        conn: sa.Connection | None = None,
    ) -> LedgerRecord:
        """Record one event, or return the record already stored under `key` (then `created` is False).

        `conn`: append inside the caller's open `write_transaction` (which holds the ledger's write lock),
        so the record commits together with what it records."""
        entry = make_entry(kind, key, payload, partition)
        crash_point("ledger.append")
        if conn is not None:
            return self._append_on(conn, entry)
        with self._translate_missing_table(), write_transaction(self.engine) as own:
            return self._append_on(own, entry)

    def write_transaction(self) -> contextlib.AbstractContextManager[sa.Connection]:
        """A transaction holding the ledger's write lock, for callers that append with `conn=`."""
        return write_transaction(self.engine)

    def _append_on(self, conn: sa.Connection, entry) -> LedgerRecord:
        existing = conn.execute(sa.select(_T).where(_T.c.key == entry.key)).first()
        if existing is not None:
            return _to_record(existing, created=False)
        head = conn.execute(sa.select(_T.c.seq, _T.c.hash).order_by(_T.c.seq.desc()).limit(1)).first()
        seq, prev_hash = (head.seq + 1, head.hash) if head is not None else (1, GENESIS_HASH)
        # Microsecond precision is what both PostgreSQL and SQLite store, so the hash survives a round trip.
        recorded_at = utcnow()
        digest = record_hash(
            seq=seq, recorded_at=recorded_at, kind=entry.kind, key=entry.key, partition=entry.partition,
            payload_json=entry.payload_json, prev_hash=prev_hash,
        )
        conn.execute(
            _T.insert().values(
                seq=seq, recorded_at=recorded_at, kind=entry.kind, key=entry.key,
                partition=entry.partition, payload=entry.payload_json, prev_hash=prev_hash, hash=digest,
                signature=self.signer.sign(digest) if self.signer else None,
                key_id=self.signer.key_id if self.signer else None,
            )
        )
        return LedgerRecord(
            seq=seq, recorded_at=recorded_at, kind=entry.kind, key=entry.key, partition=entry.partition,
            payload=entry.payload, prev_hash=prev_hash, hash=digest, created=True,
        )

    def get(self, key: str) -> LedgerRecord | None:
        """The record stored under `key`, or None."""
        with self._translate_missing_table(), self.engine.connect() as conn:
            row = conn.execute(sa.select(_T).where(_T.c.key == key)).first()
        return _to_record(row) if row is not None else None

    def records(
        self, kind: str | None = None, start: dt.date | None = None, end: dt.date | None = None
    ) -> list[LedgerRecord]:
        """Records in seq order, optionally of one kind and with partition in [start, end] (inclusive).

        Giving start or end leaves out records without a partition: they concern no date.
        """
        query = sa.select(_T).order_by(_T.c.seq)
        if kind is not None:
            query = query.where(_T.c.kind == kind)
        if start is not None:
            query = query.where(_T.c.partition >= start)
        if end is not None:
            query = query.where(_T.c.partition <= end)
        with self._translate_missing_table(), self.engine.connect() as conn:
            return [_to_record(row) for row in conn.execute(query)]

    def verify(self, *, expected_head: str | None = None, expected_count: int | None = None,
               verifier: LedgerVerifier | None = None) -> Verification:
        """Re-check every hash and link; name the first bad seq.

        Pass the head hash and/or count from an earlier report (or the latest anchor) to also catch
        records removed from the end, which a chain alone cannot reveal. A ledger that merely grew since
        then still verifies. With `verifier`, every record from the first signed one on must carry a
        valid signature: a record appended with a correct hash but without the key is named.
        """
        checker = ChainChecker(expected_head=expected_head, expected_count=expected_count)
        signed = False
        for row in self._stream_rows():
            if verifier is not None:
                signed = signed or bool(row.signature)
                if signed and not verifier.valid(row.hash, row.signature):
                    checker.fail(row.seq, "no signature" if not row.signature else
                                 f"signature does not verify with ledger key {verifier.key_id}")
            checker.add(
                seq=row.seq, recorded_at=to_utc(row.recorded_at), kind=row.kind, key=row.key,
                partition=row.partition, payload_json=row.payload, prev_hash=row.prev_hash, hash=row.hash,
            )
        return checker.result()

    def hash_at(self, seq: int) -> str | None:
        """The hash of record `seq`, None when there is no such record (an anchor is checked with it)."""
        with self._translate_missing_table(), self.engine.connect() as conn:
            return conn.execute(sa.select(_T.c.hash).where(_T.c.seq == seq)).scalar_one_or_none()

    def head(self) -> tuple[int, str, dt.datetime] | None:
        """(seq, hash, recorded_at) of the last record, or None for an empty ledger."""
        with self._translate_missing_table(), self.engine.connect() as conn:
            row = conn.execute(sa.select(_T.c.seq, _T.c.hash, _T.c.recorded_at).order_by(_T.c.seq.desc())
                               .limit(1)).first()
        return (row.seq, row.hash, to_utc(row.recorded_at)) if row is not None else None

    def export(self, path: str | Path) -> Path:
        """Write every record and a manifest to `path` (gzip when it ends in .gz); see `ledger.archive`."""
        return archive.write_export(path, (_to_record(row) for row in self._stream_rows()))

    @staticmethod
    def verify_export(
        path: str | Path, *, expected_head: str | None = None, expected_count: int | None = None
    ) -> Verification:
        """Re-check an export file on its own, without any database."""
        return archive.verify_export(path, expected_head=expected_head, expected_count=expected_count)

    def _stream_rows(self) -> Iterator[sa.Row]:
        # One SELECT is one snapshot, so a concurrent append cannot tear the walk.
        with self._translate_missing_table(), self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=_STREAM_BATCH).execute(
                sa.select(_T).order_by(_T.c.seq)
            )
            yield from result

    def _translate_missing_table(self) -> contextlib.AbstractContextManager[None]:
        return _missing_table_as_ledger_error(self.engine)


@contextlib.contextmanager
def _missing_table_as_ledger_error(engine: sa.Engine) -> Iterator[None]:
    """Turn the driver's "no such table" into one actionable LedgerNotInstalledError."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        if sa.inspect(engine).has_table(schema.TABLE_NAME):
            raise
        raise LedgerNotInstalledError(
            f"ledger: table {schema.TABLE_NAME!r} does not exist in {engine.url.render_as_string()}; "
            "apply the state store's migrations first (MetricStore.install(), which `mq` runs on start)"
        ) from exc


def _to_record(row: sa.Row, *, created: bool = False) -> LedgerRecord:
    try:
        payload = json.loads(row.payload)
    except ValueError as exc:  # only a hand-edited row gets here; the append path writes canonical JSON
        raise LedgerError(
            f"ledger: seq {row.seq} (key {row.key!r}) holds a payload that is not JSON: {exc}; run verify()"
        ) from exc
    return LedgerRecord(
        seq=row.seq,
        recorded_at=to_utc(row.recorded_at),
        kind=row.kind,
        key=row.key,
        partition=row.partition,
        payload=payload,
        prev_hash=row.prev_hash,
        hash=row.hash,
        created=created,
    )
