"""Export archives verify on their own, and any change to one is caught."""
from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest
import sqlalchemy as sa

from ledger import Ledger, LedgerExportError
from conftest import migrated

RECORDS = 4


@pytest.fixture
def ledger(migrated_store_url):
    engine = migrated(migrated_store_url)
    lg = Ledger(engine)
    lg.install()
    for n in range(1, RECORDS + 1):
        lg.append("detector", f"detector:cusum:{n}", {"score": n / 3, "label": "ok ✓"}, partition=dt.date(2024, 5, n))
    yield lg
    engine.dispose()


def read_lines(path) -> list[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def write_lines(path, lines: list[dict]) -> None:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(line) + "\n" for line in lines)


@pytest.mark.parametrize("name", ["ledger.jsonl", "ledger.jsonl.gz"])
def test_export_round_trip_verifies_without_the_database(ledger, tmp_path, name):
    live = ledger.verify()

    path = ledger.export(tmp_path / name)
    ledger.engine.dispose()
    exported = Ledger.verify_export(path)

    assert path == tmp_path / name and path.is_file()
    assert (exported.ok, exported.count, exported.head_hash) == (True, RECORDS, live.head_hash)
    lines = read_lines(path)
    assert [line["type"] for line in lines] == ["record"] * RECORDS + ["manifest"]
    assert lines[-1]["count"] == RECORDS and lines[-1]["head_hash"] == live.head_hash
    assert lines[0]["payload"] == {"score": 1 / 3, "label": "ok ✓"}
    assert not list(tmp_path.glob("*.partial"))


def test_export_of_an_empty_ledger_verifies(migrated_store_url, tmp_path):
    lg = Ledger(migrated(migrated_store_url))
    lg.install()
    result = Ledger.verify_export(lg.export(tmp_path / "empty.jsonl"))
    assert (result.ok, result.count) == (True, 0)


def edit_payload(lines):
    lines[1]["payload"]["score"] = 99
    return 2


def delete_middle_line(lines):
    del lines[2]
    return 3


def swap_lines(lines):
    lines[0], lines[1] = lines[1], lines[0]
    return 1


def drop_manifest(lines):
    del lines[-1]
    return RECORDS + 1


def drop_last_record_and_fix_manifest_count(lines):
    del lines[-2]
    lines[-1]["count"] = RECORDS - 1
    # The manifest's head hash still names the removed record, so the last remaining one is not the
    # head the archive was sealed with.
    return RECORDS - 1


def manifest_count_inflated(lines):
    lines[-1]["count"] = RECORDS + 2
    return RECORDS + 1


def forged_record_appended(lines):
    forged = dict(lines[-2], seq=RECORDS + 1, key="forged", prev_hash=lines[-2]["hash"], hash="b" * 64)
    lines.insert(-1, forged)
    return RECORDS + 1


def record_field_removed(lines):
    del lines[2]["prev_hash"]
    return 3


@pytest.mark.parametrize(
    "tamper",
    [edit_payload, delete_middle_line, swap_lines, drop_manifest, drop_last_record_and_fix_manifest_count,
     manifest_count_inflated, forged_record_appended, record_field_removed],
)
@pytest.mark.parametrize("name", ["ledger.jsonl", "ledger.jsonl.gz"])
def test_tampered_export_fails_naming_the_first_bad_seq(ledger, tmp_path, name, tamper):
    path = ledger.export(tmp_path / name)
    lines = read_lines(path)
    first_bad_seq = tamper(lines)
    write_lines(path, lines)

    result = Ledger.verify_export(path)

    assert result.ok is False
    assert result.first_bad_seq == first_bad_seq, result.problem
    assert result.problem


def test_cut_short_gzip_archive_fails(ledger, tmp_path):
    path = ledger.export(tmp_path / "ledger.jsonl.gz")
    path.write_bytes(path.read_bytes()[:-30])

    result = Ledger.verify_export(path)

    assert result.ok is False and "archive" in result.problem


def test_export_checked_against_an_earlier_head(ledger, tmp_path):
    reported = ledger.verify()
    ledger.append("signoff", "signoff:2024-05", {"by": "controller"})
    path = ledger.export(tmp_path / "ledger.jsonl")

    assert Ledger.verify_export(path, expected_head=reported.head_hash, expected_count=reported.count).ok
    stale = Ledger.verify_export(path, expected_head="c" * 64)
    assert (stale.ok, stale.first_bad_seq) == (False, RECORDS + 2)


def test_missing_export_file_is_an_error(tmp_path):
    with pytest.raises(LedgerExportError, match="does not exist"):
        Ledger.verify_export(tmp_path / "nope.jsonl")


def test_unwritable_export_path_is_an_error(ledger, tmp_path):
    with pytest.raises(LedgerExportError, match="cannot write"):
        ledger.export(tmp_path / "no-such-dir" / "ledger.jsonl")
