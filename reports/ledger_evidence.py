"""The ledger's own evidence in a report: the chain's verification, its head hash, and an archive.

The report folder gets a full export of the ledger (`ledger_export.jsonl.gz`, the `mq ledger export`
format), re-verified from the file alone, so the evidence package can be checked years later without
the database. Records are never deleted by the service; the head hash and count printed here let a
later `mq ledger verify --expected-head` prove that nothing was removed or rewritten since.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd

from ledger import Ledger, Verification
from ledger.anchor import Anchor, anchor_problem, latest_anchor
from ledger.archive import FORMAT_NAME, FORMAT_VERSION
from core.timeutil import utcnow

ARCHIVE_NAME = "ledger_export.jsonl.gz"
ARCHIVE_FORMAT = (f"{FORMAT_NAME} v{FORMAT_VERSION}: gzip-compressed JSON Lines, one ledger record per line "
                  "(seq, recorded_at, kind, key, partition, payload, prev_hash, hash; the hash is SHA-256 over "
                  "the record's fields and the previous hash), then one manifest line with the record count "
                  "and head hash. A file cut short loses its manifest and fails verification.")


@dataclasses.dataclass(frozen=True)
class LedgerEvidence:
    live: Verification
    archive: Verification
    archive_path: Path
    archive_sha256: str
    verified_at: dt.datetime
    anchor_dir: Path | None = None
    anchor: Anchor | None = None
    anchor_problem: str | None = None      # None: the ledger still holds the anchored head

    @property
    def anchor_ok(self) -> bool:
        return self.anchor is not None and self.anchor_problem is None

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "ok": self.live.ok, "records": self.live.count, "head_hash": self.live.head_hash,
            "first_bad_seq": self.live.first_bad_seq, "problem": self.live.problem,
            "verified_at": self.verified_at.isoformat(), "archive_file": self.archive_path.name,
            "archive_format": f"{FORMAT_NAME} v{FORMAT_VERSION}", "archive_ok": self.archive.ok,
            "archive_records": self.archive.count, "archive_head_hash": self.archive.head_hash,
            "archive_sha256": self.archive_sha256,
            "anchor_location": str(self.anchor_dir) if self.anchor_dir else None,
            "anchor_file": self.anchor.path.name if self.anchor else None,
            "anchor_seq": self.anchor.seq if self.anchor else None,
            "anchor_hash": self.anchor.hash if self.anchor else None,
            "anchor_ok": self.anchor_ok, "anchor_problem": self.anchor_problem}])


def ledger_evidence(ledger: Ledger, out: Path, anchor_dir: Path | None = None) -> LedgerEvidence:
    """Verify the live chain, export it beside the report and verify the export against the live head;
    check the latest anchor in `anchor_dir` (the head copied outside the store) against the chain, so an
    auditor can compare the report's anchor with the anchor file itself."""
    live = ledger.verify()
    anchor = latest_anchor(anchor_dir) if anchor_dir is not None else None
    problem = (anchor_problem(anchor, ledger, ledger.signer) if anchor is not None
               else "no anchor written yet" if anchor_dir is not None else None)
    path = ledger.export(Path(out) / ARCHIVE_NAME)
    archive = Ledger.verify_export(path, expected_head=live.head_hash if live.ok else None)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return LedgerEvidence(live=live, archive=archive, archive_path=path, archive_sha256=digest,
                          verified_at=utcnow(), anchor_dir=anchor_dir, anchor=anchor,
                          anchor_problem=problem)
