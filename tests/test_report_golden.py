"""Golden files for the SOX report's control CSVs, on a fixed fortnight of ledger records.

Regenerate after an intended change with `MQ_UPDATE_GOLDEN=1 ./run test -k report_golden` and review
the diff. Values that differ between runs (wall-clock times, hashes over them, the config's hash over
temporary paths) are replaced by `<volatile>` when not empty.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest

from conftest import assert_matches_golden
from controls import sync_controls
from reports.sox import write_sox_report
from test_controls_exceptions import ANOMALY, END, START, build_period, controls_of, make_pipeline

GOLDEN = Path(__file__).parent / "golden" / "report"
CSVS = ("controls", "control_runs", "exceptions", "control_changes", "silences", "ledger_verification")
VOLATILE = {"recorded_at", "raised_at", "signed_at", "verified_at", "head_hash", "archive_head_hash",
            "archive_sha256", "config_hash", "hours_to_disposition", "anchor_location", "anchor_file", "anchor_hash"}
CREATED = dt.datetime(2026, 10, 5, 8, 0, tzinfo=dt.timezone.utc)


def build_report_state(tmp_path: Path, url: str):
    """The fortnight of tests/test_controls_exceptions.py, a silence that muted one decision, and a
    tightened reconciliation band (a control definition change)."""
    pipe = make_pipeline(tmp_path, url)
    build_period(pipe)
    silence = pipe.alerts.silences.create({"platform": "android"}, author="ana", reason="SDK fix rolling out",
                                          expires_at=CREATED + dt.timedelta(days=3), now=CREATED)
    pipe.ledger.append("silence", f"silence:{silence.id}:created", {
        "id": silence.id, "matchers": silence.matchers, "author": silence.author, "reason": silence.reason,
        "expires_at": silence.expires_at.isoformat()})
    pipe.ledger.append("alert_decision", f"decision:f00d:{ANOMALY}", {
        "fingerprint": "f00d", "alert_id": f"f00d-{ANOMALY}", "decision": "silenced",
        "reason": f"silence #{silence.id} by ana: SDK fix rolling out", "receiver": "local",
        "kind": "discrepancy", "subject": "client_vs_warehouse_events"}, partition=ANOMALY)
    tightened = make_pipeline(tmp_path, url, low=0.9)
    sync_controls(*controls_of(tightened), git_commit="1" * 40)
    tightened.anchor_ledger()   # as every run ends: the head copied outside the store
    return tightened


def normalised(text: str) -> str:
    rows = list(csv.DictReader(io.StringIO(text)))
    out = io.StringIO()
    header = next(csv.reader(io.StringIO(text)))
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "<volatile>" if k in VOLATILE and v else v for k, v in row.items()})
    return out.getvalue()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("golden")
    pipe = build_report_state(work, f"sqlite:///{work / 'state.db'}")
    write_sox_report(pipe, START, END, work / "report")
    return work / "report"


@pytest.mark.parametrize("name", CSVS)
def test_report_csv_matches_its_golden_file(report, name):
    got = normalised((report / f"{name}.csv").read_text())
    golden = GOLDEN / f"{name}.csv"
    assert_matches_golden(got, golden)


def test_the_report_shows_the_latest_anchor_and_whether_the_ledger_holds_it(tmp_path, migrated_store_url):
    """Seq, hash and location of the latest anchor file, checked against the chain: an anchor the
    ledger no longer matches (rewritten history) is reported as not verifying."""
    from ledger.anchor import write_anchor
    from reports.ledger_evidence import ledger_evidence

    pipe = make_pipeline(tmp_path, migrated_store_url)
    pipe.ledger.append("note", "note:1", {"n": 1})
    anchor = pipe.anchor_ledger()
    seq, head, _ = pipe.ledger.head()
    (tmp_path / "out").mkdir()
    (tmp_path / "out2").mkdir()
    row = ledger_evidence(pipe.ledger, tmp_path / "out", pipe.anchor_dir).frame().iloc[0]
    assert (row.anchor_seq, row.anchor_hash, row.anchor_file, row.anchor_ok) == (seq, head, anchor.name, True)
    assert row.anchor_location == str(pipe.anchor_dir)
    pipe.ledger.append("note", "note:2", {"n": 2})
    write_anchor(pipe.anchor_dir, seq + 1, "0" * 64, "2026-10-05T08:00:00+00:00", pipe.ledger.signer)
    row = ledger_evidence(pipe.ledger, tmp_path / "out2", pipe.anchor_dir).frame().iloc[0]
    assert not row.anchor_ok and f"record {seq + 1} has hash" in row.anchor_problem


def test_normalising_keeps_everything_an_auditor_samples(report):
    """The golden comparison would be hollow if it blanked the columns that matter."""
    exceptions = list(csv.DictReader(io.StringIO(normalised((report / "exceptions.csv").read_text()))))
    signed = [r for r in exceptions if r["disposition"]]
    assert {r["exception_id"] for r in signed} == {
        "schedule:daily@2026-10-04:missed", "suite:client_events@2026-09-30:failed",
        "detect:client_vs_warehouse_events@2026-10-06:anomaly"}
    assert all(r["hours_to_disposition"] == "<volatile>" and r["signed_by"] for r in signed)
    assert all(r["hours_to_disposition"] == "" for r in exceptions if not r["disposition"])
    runs = list(csv.DictReader(io.StringIO((report / "control_runs.csv").read_text())))
    missed = [r for r in runs if r["partition"] == "2026-10-04"]
    assert {(r["status"], r["missed"], r["exception_id"]) for r in missed} == {
        ("missed", "True", "schedule:daily@2026-10-04:missed")}
