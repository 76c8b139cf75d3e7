"""Export archives: ledger evidence an auditor can check without access to the database.

Format: JSON Lines, gzip-compressed when the file name ends in ".gz". Every line but the last is one
record (payload as a JSON object; its canonical form is what the hash covers). The last line is the
manifest with the format version, record count and head hash. Putting the manifest last lets the
export stream, and a file cut short loses its manifest and fails verification instead of passing as
a shorter but valid chain.
"""
from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from ledger.canonical import GENESIS_HASH, canonical_json, format_timestamp, parse_timestamp
from ledger.chain import ChainChecker, Verification
from ledger.errors import LedgerExportError
from ledger.record import LedgerRecord
from core.timeutil import utcnow

FORMAT_NAME = "mq-ledger-export"
FORMAT_VERSION = 1
_GZIP_MAGIC = b"\x1f\x8b"
_RECORD_FIELDS = ("seq", "recorded_at", "kind", "key", "partition", "payload", "prev_hash", "hash")


def write_export(path: str | Path, records: Iterable[LedgerRecord]) -> Path:
    """Write `records` (in seq order) and the manifest; the file appears only once it is complete."""
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    count, head_hash = 0, GENESIS_HASH
    try:
        with _open_for_write(partial, gzipped=target.name.endswith(".gz")) as out:
            for record in records:
                out.write(canonical_json(_record_line(record)) + "\n")
                count, head_hash = count + 1, record.hash
            manifest = {
                "type": "manifest",
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "count": count,
                "head_hash": head_hash,
                "exported_at": format_timestamp(utcnow()),
            }
            out.write(canonical_json(manifest) + "\n")
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise LedgerExportError(f"ledger export: cannot write {target}: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target


def verify_export(
    path: str | Path, *, expected_head: str | None = None, expected_count: int | None = None
) -> Verification:
    """Re-check an export: every hash and link, then that the manifest matches what was read."""
    source = Path(path)
    if not source.is_file():
        raise LedgerExportError(f"ledger export: {source} does not exist or is not a file")
    checker = ChainChecker(expected_head=expected_head, expected_count=expected_count)
    manifest: dict[str, Any] | None = None
    line_no = 0
    try:
        for line_no, obj in _read_lines(source):
            if manifest is not None:
                checker.fail(checker.count + 1, f"line {line_no}: data after the manifest")
                break
            if obj.get("type") == "manifest":
                manifest = obj
                continue
            problem = _feed_record(checker, obj)
            if problem is not None:
                checker.fail(_seq_of(obj, default=checker.count + 1), f"line {line_no}: {problem}")
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
        # gzip/zlib errors, truncated streams and broken JSON all mean the archive is damaged.
        checker.fail(checker.count + 1, f"line {line_no + 1}: unreadable archive: {exc}")
    result = checker.result()
    if not result.ok:
        return result
    return _check_manifest(result, manifest)


def _record_line(record: LedgerRecord) -> dict[str, Any]:
    return {
        "type": "record",
        "seq": record.seq,
        "recorded_at": format_timestamp(record.recorded_at),
        "kind": record.kind,
        "key": record.key,
        "partition": record.partition.isoformat() if record.partition is not None else None,
        "payload": record.payload,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


def _feed_record(checker: ChainChecker, obj: dict[str, Any]) -> str | None:
    """Add one record line to the chain; return a problem text if the line is not a well-formed record."""
    if obj.get("type") != "record":
        return f"unknown line type {obj.get('type')!r}"
    missing = [name for name in _RECORD_FIELDS if name not in obj]
    if missing:
        return f"record lacks field(s) {', '.join(missing)}"
    try:
        seq = obj["seq"]
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise TypeError(f"seq must be an integer, got {seq!r}")
        if not isinstance(obj["payload"], dict):
            raise TypeError("payload must be a JSON object")
        partition = dt.date.fromisoformat(obj["partition"]) if obj["partition"] is not None else None
        checker.add(
            seq=seq,
            recorded_at=parse_timestamp(obj["recorded_at"]),
            kind=obj["kind"],
            key=obj["key"],
            partition=partition,
            payload_json=canonical_json(obj["payload"]),
            prev_hash=obj["prev_hash"],
            hash=obj["hash"],
        )
    except (TypeError, ValueError) as exc:
        return f"malformed record: {exc}"
    return None


def _seq_of(obj: dict[str, Any], *, default: int) -> int:
    seq = obj.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else default


def _check_manifest(result: Verification, manifest: dict[str, Any] | None) -> Verification:
    next_seq = result.count + 1
    if manifest is None:
        return _failed(result, next_seq, "manifest missing: the archive is incomplete or was cut short")
    if manifest.get("format") != FORMAT_NAME or manifest.get("version") != FORMAT_VERSION:
        return _failed(
            result, next_seq,
            f"manifest names format {manifest.get('format')!r} version {manifest.get('version')!r}; "
            f"expected {FORMAT_NAME!r} version {FORMAT_VERSION}",
        )
    if manifest.get("count") != result.count:
        claimed = manifest.get("count")
        first_bad = min(result.count, claimed) + 1 if isinstance(claimed, int) else next_seq
        return _failed(result, first_bad, f"manifest says {claimed!r} records, the archive holds {result.count}")
    if manifest.get("head_hash") != result.head_hash:
        return _failed(
            result, max(result.count, 1),
            f"manifest head hash {manifest.get('head_hash')!r} differs from the last record's {result.head_hash}",
        )
    return result


def _failed(result: Verification, seq: int, problem: str) -> Verification:
    return Verification(ok=False, count=result.count, head_hash=result.head_hash, first_bad_seq=seq, problem=problem)


def _open_for_write(path: Path, *, gzipped: bool) -> IO[str]:
    if gzipped:
        return io.TextIOWrapper(gzip.open(path, "wb"), encoding="utf-8", newline="\n")
    return open(path, "w", encoding="utf-8", newline="\n")


def _read_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == _GZIP_MAGIC
    raw = gzip.open(path, "rb") if gzipped else open(path, "rb")
    with raw:
        for line_no, line in enumerate(raw, start=1):
            obj = json.loads(line.decode("utf-8"))
            if not isinstance(obj, dict):
                raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
            yield line_no, obj
