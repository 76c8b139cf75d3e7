"""Walking a hash chain and naming the first record that breaks it.

The same checker serves the live table and an exported archive, so "valid" means one thing. It is fed
records in seq order and keeps only the FIRST problem: everything after a break is untrustworthy
anyway, and an auditor needs to know where to start looking.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from ledger.canonical import GENESIS_HASH, record_hash
from ledger.errors import LedgerError


@dataclasses.dataclass(frozen=True)
class Verification:
    """Result of checking a chain. `first_bad_seq`/`problem` are None exactly when `ok`."""

    ok: bool
    count: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"ledger OK: {self.count} records, head {self.head_hash}"
        return f"ledger BROKEN at seq {self.first_bad_seq}: {self.problem} ({self.count} records stored)"


class ChainChecker:
    """Incremental verifier: call `add` for each stored record in seq order, then `result`."""

    def __init__(self, *, expected_head: str | None = None, expected_count: int | None = None) -> None:
        """`expected_head`/`expected_count` come from an earlier report (see `result`)."""
        name = type(self).__name__
        if expected_count is not None and not _is_count(expected_count):
            raise LedgerError(f"{name}: expected_count must be an int >= 0 (got {expected_count!r})")
        if expected_head is not None and not _is_hash(expected_head):
            raise LedgerError(f"{name}: expected_head must be 64 lowercase hex digits (got {expected_head!r})")
        self._expected_head, self._expected_count = expected_head, expected_count
        self._expected_head_seen = expected_head == GENESIS_HASH
        self._hash_at_expected_count = GENESIS_HASH if expected_count == 0 else None
        self._count = 0
        self._expected_seq = 1
        self._prev_hash = GENESIS_HASH
        self._head_hash = GENESIS_HASH
        self._seen_keys: set[str] = set()
        self._first_bad_seq: int | None = None
        self._problem: str | None = None

    @property
    def count(self) -> int:
        """Records added so far."""
        return self._count

    def fail(self, seq: int, problem: str) -> None:
        """Record a problem unless an earlier one is already known."""
        if self._problem is None:
            self._first_bad_seq, self._problem = seq, problem

    def add(
        self,
        *,
        seq: int,
        recorded_at: dt.datetime,
        kind: str,
        key: str,
        partition: dt.date | None,
        payload_json: str,
        prev_hash: str,
        hash: str,  # noqa: A002 - the column's name
    ) -> None:
        self._count += 1
        self._head_hash = hash
        if self._problem is not None:
            return
        if seq == self._expected_count:
            self._hash_at_expected_count = hash
        if hash == self._expected_head:
            self._expected_head_seen = True
        expected = self._expected_seq
        self._expected_seq = seq + 1
        if seq != expected:
            if seq > expected:
                missing = f"seq {expected}" if seq == expected + 1 else f"seqs {expected}..{seq - 1}"
                self.fail(expected, f"gap in seq: {missing} missing (next stored record is seq {seq})")
            else:
                self.fail(seq, f"seq out of order or repeated: found seq {seq} where seq {expected} was expected")
            return
        computed = record_hash(
            seq=seq, recorded_at=recorded_at, kind=kind, key=key, partition=partition,
            payload_json=payload_json, prev_hash=prev_hash,
        )
        if computed != hash:
            self.fail(seq, f"hash mismatch: the record's content does not match its stored hash {hash}")
        elif prev_hash != self._prev_hash:
            self.fail(
                seq,
                f"broken link: prev_hash {prev_hash} is not the hash of seq {seq - 1} ({self._prev_hash})",
            )
        elif key in self._seen_keys:
            self.fail(seq, f"duplicate key {key!r}")
        self._seen_keys.add(key)
        self._prev_hash = hash

    def result(self) -> Verification:
        """The verdict. Expectations from an earlier report catch truncation at the end of the chain.

        A ledger that has GROWN since that report still passes: the expected head must be found at the
        expected count (or anywhere, when only the head is given), not at the current end.
        """
        if self._problem is None:
            self._check_expectations()
        return Verification(
            ok=self._problem is None,
            count=self._count,
            head_hash=self._head_hash,
            first_bad_seq=self._first_bad_seq,
            problem=self._problem,
        )

    def _check_expectations(self) -> None:
        count, expected_head, expected_count = self._count, self._expected_head, self._expected_count
        if expected_count is not None and count < expected_count:
            self.fail(
                count + 1,
                f"head moved back: {count} records stored but {expected_count} were recorded earlier "
                f"(seqs {count + 1}..{expected_count} are missing)",
            )
            return
        if expected_head is None:
            return
        if expected_count is not None:
            if self._hash_at_expected_count != expected_head:
                self.fail(
                    max(expected_count, 1),
                    f"head moved: seq {expected_count} has hash {self._hash_at_expected_count}, "
                    f"expected head {expected_head}",
                )
            return
        if not self._expected_head_seen:
            self.fail(
                count + 1,
                f"head moved: expected head {expected_head} is not in the ledger (head is now seq {count}, "
                f"{self._head_hash}); records after seq {count} were removed or the chain was rewritten",
            )


def _is_hash(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
