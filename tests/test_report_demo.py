"""The SOX evidence of real pipeline runs: a calendar quarter of daily runs with one run skipped.

The demo warehouse is generated from 2026-07-01 and the pipeline runs every day of Q3 2026 but one, as
the scheduler would. The quarter spans the demo's logging loss, duplicate load, missing partition and
null spike. The skipped day must show as a missed run for every control, the incident days as
exceptions, and the signed-off ones with their disposition.

Each of the 91 runs is kept cheap, since the evidence is about which controls ran, not what they
found: few events a day, the table-wide slice only, and one expectation per table (`LIGHT_SUITES`,
which still catches the null spike).
"""
from __future__ import annotations

import csv
import datetime as dt

import pytest

from conftest import light_demo_config
from mq.demo import DemoSpec, generate
from controls import build_registry, derive_exceptions, run_list, sign_off, sync_controls
from mq.config import load_config
from mq.pipeline import Pipeline
from reports.sox import write_sox_report
from test_controls_exceptions import controls_of


QUARTER = (dt.date(2026, 7, 1), dt.date(2026, 9, 30))
SKIPPED = dt.date(2026, 8, 14)


@pytest.fixture(scope="module")
def quarter(spark, tmp_path_factory):
    work = tmp_path_factory.mktemp("sox_demo")
    spec = DemoSpec(days=(DemoSpec().end - QUARTER[0]).days + 1, daily_events=500, seed=5)
    truth = generate(work / "warehouse", spec)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MQ_DEMO_DIR", str(work))
        mp.delenv("MQ_STATE_URL", raising=False)
        mp.delenv("MQ_RECEIVER", raising=False)
        pipe = Pipeline(load_config(light_demo_config(work, slices=[[]])), spark=spark)
        start, end = QUARTER
        sync_controls(*controls_of(pipe))
        pipe.backfill(start, SKIPPED - dt.timedelta(days=1))
        pipe.backfill(SKIPPED + dt.timedelta(days=1), end)   # the scheduler never ran SKIPPED
        yield pipe, truth, work, start, end, SKIPPED


def test_skipped_run_is_a_missed_exception_and_sign_offs_show_in_the_report(quarter):
    pipe, truth, work, start, end, skipped = quarter
    rows = run_list(build_registry(pipe.config), pipe.ledger, start, end)
    assert {r.status for r in rows if r.partition == skipped} == {"missed"}
    # every other day, every control ran: the registry matches what the pipeline records
    assert [r for r in rows if r.partition != skipped and r.status in ("missed", "not_executed")] == []

    found = {e.id: e for e in derive_exceptions(*controls_of(pipe), start, end)}
    missed = f"schedule:daily@{skipped}:missed"
    incident = {i["id"]: dt.date.fromisoformat(i["start"]) for i in truth["incidents"]}
    freshness = f"pull:warehouse_events@{incident['missing-partition']}:failed"
    null_spike = [i for i in found if i.startswith("suite:") and f"@{incident['null-spike']}:" in i]
    assert missed in found and freshness in found and null_spike, sorted(found)

    sign_off(*controls_of(pipe), missed, by="ana", disposition="accepted",
             note="scheduler paused for maintenance")
    sign_off(*controls_of(pipe), freshness, by="raj", disposition="remediated",
             note="partition reloaded by data-eng")
    report = write_sox_report(pipe, start, end, work / "report")

    exceptions = {r["exception_id"]: r for r in csv.DictReader((report.parent / "exceptions.csv").open())}
    assert (exceptions[missed]["status"], exceptions[missed]["disposition"]) == ("closed", "accepted")
    assert exceptions[freshness]["disposition"] == "remediated" and exceptions[freshness]["signed_by"] == "raj"
    assert all(r["status"] == "open" for i, r in exceptions.items() if i not in (missed, freshness))
    runs = list(csv.DictReader((report.parent / "control_runs.csv").open()))
    assert len(runs) == 92 * len(list(csv.DictReader((report.parent / "controls.csv").open())))
    assert {r["exception_id"] for r in runs if r["partition"] == skipped.isoformat()} == {missed}
    verification = next(csv.DictReader((report.parent / "ledger_verification.csv").open()))
    assert verification["ok"] == "True" and verification["archive_ok"] == "True"
    html = report.read_text()
    assert missed in html and "accepted" in html and "verified" in html
