"""Anchors: the chain head written outside the store, once per run, to a write-once file.

An insider who can rewrite the database (and even re-sign it with a stolen key) cannot also rewrite an
anchor already copied outside it: `verify` checks that the record at the anchored seq still has the
anchored hash, so rewriting or cutting history before the last anchor is detected. A file is created
with O_EXCL and made read-only, never overwritten; point `MQ_LEDGER_ANCHOR_DIR` at storage with
retention (an object-lock bucket mount, WORM share) in production. The SOX report prints the head too.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ledger.errors import LedgerError


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    recorded_at: str
    key_id: str | None
    signature: str | None
    path: Path

    @property
    def message(self) -> str:
        return anchor_message(self.seq, self.hash)


def anchor_message(seq: int, head_hash: str) -> str:
    return f"mq-ledger-anchor:{seq}:{head_hash}"


def write_anchor(folder: Path, seq: int, head_hash: str, recorded_at: str, signer=None) -> Path | None:
    """Write the anchor of (seq, hash) once; None when that head is already anchored."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{seq:012d}-{head_hash[:16]}.json"
    body = {"seq": seq, "hash": head_hash, "recorded_at": recorded_at,
            "key_id": signer.key_id if signer else None,
            "signature": signer.sign(anchor_message(seq, head_hash)) if signer else None}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    except FileExistsError:
        return None
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(body, sort_keys=True) + "\n")
    return path


def latest_anchor(folder: Path) -> Anchor | None:
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        return None
    path = files[-1]
    try:
        body = json.loads(path.read_text())
        return Anchor(int(body["seq"]), str(body["hash"]), str(body["recorded_at"]), body.get("key_id"),
                      body.get("signature"), path)
    except (ValueError, KeyError) as exc:
        raise LedgerError(f"ledger anchor {path}: unreadable ({exc})") from None


def anchor_problem(anchor: Anchor, ledger, verifier=None) -> str | None:
    """Why the ledger no longer matches `anchor` (None when it does): the record at the anchored seq
    must still have the anchored hash, and a signed anchor must verify with the ledger key."""
    held = ledger.hash_at(anchor.seq)
    if held is None:
        return f"record {anchor.seq} of anchor {anchor.path.name} is missing from the ledger"
    if held != anchor.hash:
        return f"record {anchor.seq} has hash {held[:16]}..., anchor {anchor.path.name} says {anchor.hash[:16]}..."
    if anchor.signature and verifier is not None and not verifier.valid(anchor.message, anchor.signature):
        return f"anchor {anchor.path} is not signed by ledger key {verifier.key_id}"
    return None
