"""Exceptions and their sign-off, derived from ledger records shaped exactly as the pipeline writes them.

`build_period` is a fortnight of daily control executions with one of each kind of exception: a failed
suite, a missing partition, a missed run, a detector anomaly, a failed run and a reconciliation outside
its band. The report's golden test reuses it.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from controls import (ControlError, ControlSettings, UnknownExceptionError, build_registry, derive_exceptions,
                      run_list, sign_off, sync_controls)
from conftest import config_from_yaml
from mq.cli import main
from mq.config import load_config
from mq.pipeline import Pipeline

REPO = Path(__file__).resolve().parents[1]
START, END = dt.date(2026, 9, 28), dt.date(2026, 10, 11)
PAIR = "client_vs_warehouse_events"
SUITE_FAIL, MISSING, MISSED = dt.date(2026, 9, 30), dt.date(2026, 10, 2), dt.date(2026, 10, 4)
ANOMALY, RUN_FAILED, RATIO_FAIL = dt.date(2026, 10, 6), dt.date(2026, 10, 8), dt.date(2026, 10, 9)

CONFIG = """\
version: 1
workdir: {work}
state_store: {{url: "{url}"}}
calendar: {{holidays: [{{date: 2026-10-05, name: Test holiday}}]}}
dimensions: [platform]
slices: [[], [platform]]
tables:
  client_events: {{path: {work}/wh/client_events, suite: {repo}/checks/suites/client_events.yml, owner: client-platform}}
  warehouse_events: {{path: {work}/wh/warehouse_events, suite: {repo}/checks/suites/warehouse_events.yml, owner: data-engineering}}
  web_sessions: {{path: {work}/wh/web_sessions}}
metrics:
  client_events: {{table: client_events, detectors: [{{name: seasonal_mad}}], sox: true}}
  warehouse_events: {{table: warehouse_events, detectors: [{{name: seasonal_mad}}], sox: true}}
  web_sessions: {{table: web_sessions, detectors: [{{name: seasonal_mad}}]}}
pairs:
  client_vs_warehouse_events:
    client: client_events
    warehouse: warehouse_events
    row_ratio_band: [{low}, 1.0]
    team: metrics-quality
    sox: true
"""


def make_pipeline(work: Path, url: str, *, low: float = 0.85) -> Pipeline:
    path = work / f"mq-{low}.yml"
    path.write_text(CONFIG.format(work=work, url=url, repo=REPO, low=low))
    return Pipeline(load_config(path), state_url=url)


def record_day(pipe: Pipeline, day: dt.date, *, run: str = "success", missing: tuple[str, ...] = (),
               failed_suite: dict[str, list[str]] | None = None, anomalies: dict[str, list[str]] | None = None,
               ratio: float = 0.93) -> None:
    """The ledger records of one partition, with the keys and payloads of mq/stages/*."""
    lg, d = pipe.ledger, day.isoformat()
    failed_suite, anomalies = failed_suite or {}, anomalies or {}
    for table in ("client_events", "warehouse_events", "web_sessions"):
        status = "missing" if table in missing else "ok"
        lg.append("pull", f"pull:{table}:{d}:v1", {
            "table": table, "partition": d, "status": status, "row_count": 0 if status == "missing" else 4000,
            "version": 1, "sql_hash": "5" * 64, "content_hash": "6" * 64, "input_files": [],
            "spark_app_id": "local-1", "controls": pipe.controls_for_table(table)}, partition=day)
    if run == "failed":
        lg.append("run", f"run:{d}:failed", {"partition": d, "status": "failed", "error": "PullError: boom",
                                             "trigger": "cli"}, partition=day)
        return
    for table in ("client_events", "warehouse_events"):
        if table in missing:
            continue
        failed = failed_suite.get(table, [])
        lg.append("check", f"check:{table}:{d}:s:r", {
            "suite": table, "table": table, "suite_hash": "7" * 64, "success": not failed,
            "result_hash": "8" * 64, "failed": failed, "controls": pipe.controls_for_table(table)}, partition=day)
    if not missing:
        lg.append("check", f"check:{PAIR}_row_ratio:{d}:s:r", {
            "suite": f"{PAIR}_row_ratio", "table": "warehouse_events", "suite_hash": "9" * 64,
            "success": 0.85 <= ratio <= 1.0, "result_hash": "a" * 64,
            "failed": [] if 0.85 <= ratio <= 1.0 else ["expect_row_count_ratio_to_be_between"],
            "controls": pipe.controls_for_table("warehouse_events")}, partition=day)
    for subject in ("client_events", "warehouse_events", PAIR, "web_sessions"):
        found = anomalies.get(subject, [])
        lg.append("detector", f"detect:{subject}:{d}:x", {
            "subject": subject, "detectors": ["seasonal_mad"], "status_counts": {"ok": 4},
            "anomalies": found, "controls": pipe.controls_for_subject(subject)}, partition=day)
    lg.append("run", f"run:{d}:ok", {"partition": d, "status": "success", "trigger": "cli"}, partition=day)


def build_period(pipe: Pipeline) -> None:
    """Two weeks with one exception of each kind; sign-offs for three of them."""
    sync_controls(*controls_of(pipe), git_commit="0" * 40)
    day = START
    while day <= END:
        if day != MISSED:
            record_day(pipe, day, run="failed" if day == RUN_FAILED else "success",
                       missing=("warehouse_events",) if day == MISSING else (),
                       failed_suite={"client_events": ["expect_column_values_to_not_be_null"]}
                       if day == SUITE_FAIL else None,
                       anomalies={PAIR: ["platform=android", "total"], "web_sessions": ["total"]}
                       if day == ANOMALY else None,
                       ratio=0.7 if day == RATIO_FAIL else 0.93)
        day += dt.timedelta(days=1)
    sign_off(*controls_of(pipe), f"schedule:daily@{MISSED}:missed", by="ana", disposition="accepted",
             note="scheduler outage; the 10-05 run covered the gap")
    sign_off(*controls_of(pipe), f"suite:client_events@{SUITE_FAIL}:failed", by="raj",
             disposition="false_positive",
             note="anonymous events; suite threshold too tight")
    sign_off(*controls_of(pipe), f"detect:{PAIR}@{ANOMALY}:anomaly", by="raj", disposition="remediated",
             note="android SDK 10.3 rollback; counts recovered")


def controls_of(pipe: Pipeline) -> tuple[ControlSettings, object]:
    """What the control functions take from a pipeline: the settings of its config, its ledger."""
    return ControlSettings.from_config(pipe.config), pipe.ledger


@pytest.fixture
def period(tmp_path, migrated_store_url) -> Pipeline:
    pipe = make_pipeline(tmp_path, migrated_store_url)
    build_period(pipe)
    return pipe


def test_every_kind_of_exception_is_derived_with_a_stable_id(period):
    found = {e.id: e for e in derive_exceptions(*controls_of(period), START, END)}
    assert sorted(found) == sorted([
        f"suite:client_events@{SUITE_FAIL}:failed",
        f"pull:warehouse_events@{MISSING}:failed",
        f"schedule:daily@{MISSED}:missed",
        f"detect:{PAIR}@{ANOMALY}:anomaly",
        f"schedule:daily@{RUN_FAILED}:failed",
        f"reconcile:{PAIR}@{RATIO_FAIL}:failed",
    ])
    assert "expect_column_values_to_not_be_null" in found[f"suite:client_events@{SUITE_FAIL}:failed"].detail
    assert found[f"detect:{PAIR}@{ANOMALY}:anomaly"].detail.startswith("2 anomalous slice(s)")
    assert found[f"pull:warehouse_events@{MISSING}:failed"].owner == "data-engineering"
    # web_sessions is not a sox metric: its anomaly on the same day is no exception
    assert not any("web_sessions" in i for i in found)


def test_missed_run_flags_every_control_of_the_day(period):
    rows = [r for r in run_list(build_registry(period.config), period.ledger, MISSED, MISSED)]
    assert {r.status for r in rows} == {"missed"}
    assert {r.exception_id for r in rows} == {f"schedule:daily@{MISSED}:missed"}
    blocked = {r.control_id: r
               for r in run_list(build_registry(period.config), period.ledger, MISSING, MISSING)}
    assert blocked["suite:warehouse_events"].status == "skipped"
    assert blocked["suite:warehouse_events"].exception_id == f"pull:warehouse_events@{MISSING}:failed"
    assert blocked["suite:client_events"].status == "ok"


def test_signoffs_close_exceptions_and_a_reopen_opens_them_again(period):
    open_ids = {e.id for e in derive_exceptions(*controls_of(period), START, END, open_only=True)}
    assert open_ids == {f"pull:warehouse_events@{MISSING}:failed", f"schedule:daily@{RUN_FAILED}:failed",
                        f"reconcile:{PAIR}@{RATIO_FAIL}:failed"}
    missed = next(e for e in derive_exceptions(*controls_of(period), MISSED, MISSED))
    assert (missed.status, missed.disposition, missed.latest.by) == ("closed", "accepted", "ana")
    record = missed.latest.record
    assert record.kind == "signoff" and record.partition == MISSED
    assert record.payload["checked"]["detail"] == "no successful run for this partition"
    assert len(record.payload["checked"]["control_definition_hash"]) == 64

    seqs = len(period.ledger.records())
    again = sign_off(*controls_of(period), missed.id, by="ana", disposition="accepted",
                     note="scheduler outage; the 10-05 run covered the gap")
    assert again.version == 1 and len(period.ledger.records()) == seqs   # the same sign-off adds nothing
    sign_off(*controls_of(period), missed.id, by="lee", disposition="reopened",
             note="the 10-05 run did not cover it")
    reopened = next(e for e in derive_exceptions(*controls_of(period), MISSED, MISSED))
    assert reopened.status == "open" and [s.version for s in reopened.signoffs] == [1, 2]
    assert period.ledger.verify().ok


def test_signoff_refuses_what_it_cannot_record(period):
    with pytest.raises(UnknownExceptionError, match="schedule:daily@2026-10-04:missed"):
        sign_off(*controls_of(period), f"suite:client_events@{MISSED}:failed", by="ana", disposition="accepted",
                 note="x")
    with pytest.raises(ControlError, match="disposition must be one of"):
        sign_off(*controls_of(period), f"schedule:daily@{MISSED}:missed", by="ana", disposition="fine",
                 note="x")
    with pytest.raises(ControlError, match="must look like"):
        sign_off(*controls_of(period), "schedule:daily/2026-10-04", by="ana", disposition="accepted",
                 note="x")
    with pytest.raises(ControlError, match="--by"):
        sign_off(*controls_of(period), f"schedule:daily@{MISSED}:missed", by=" ", disposition="accepted",
                 note="x")


def test_cli_lists_and_signs_off(tmp_path, sqlite_url, monkeypatch, capsys):
    pipe = make_pipeline(tmp_path, sqlite_url)
    build_period(pipe)
    monkeypatch.delenv("MQ_STATE_URL", raising=False)
    cfg = ["--config", str(tmp_path / "mq-0.85.yml")]
    assert main([*cfg, "exceptions", "--start", str(START), "--end", str(END), "--open"]) == 0
    out = capsys.readouterr().out
    assert f"reconcile:{PAIR}@{RATIO_FAIL}:failed  open" in out and "3 open exception(s)" in out
    assert main([*cfg, "signoff", f"reconcile:{PAIR}@{RATIO_FAIL}:failed", "--by", "ana",
                 "--disposition", "remediated", "--note", "warehouse reload; ratio back to 0.93"]) == 0
    assert "remediated by ana" in capsys.readouterr().out
    assert main([*cfg, "exceptions", "--start", str(RATIO_FAIL), "--end", str(RATIO_FAIL)]) == 0
    assert f"reconcile:{PAIR}@{RATIO_FAIL}:failed  closed  remediated by ana" in capsys.readouterr().out
    assert main([*cfg, "signoff", "nope", "--by", "a", "--disposition", "accepted", "--note", "n"]) == 2
    assert "must look like" in capsys.readouterr().err


def test_a_signed_off_missed_run_stays_in_sight_after_a_late_run(period):
    record_day(period, MISSED)   # the partition is run days later
    rows = {r.control_id: r for r in run_list(build_registry(period.config), period.ledger, MISSED, MISSED)}
    assert rows["schedule:daily"].status == "ok"
    [late] = derive_exceptions(*controls_of(period), MISSED, MISSED)
    assert late.id == f"schedule:daily@{MISSED}:missed" and late.status == "closed"
    assert late.detail.startswith("superseded by a later execution")
    assert late.raised_at is not None and late.disposition == "accepted"


def test_exceptions_come_from_the_ledger_alone_without_a_pipeline(tmp_path, stores):
    """The settings of a config and an in-memory ledger are all `run_list`, `derive_exceptions` and
    `sign_off` need: a failed run, then a day with no run at all."""
    _, ledger = stores
    config = config_from_yaml(tmp_path, CONFIG.format(work=tmp_path, url="sqlite://", repo=REPO, low=0.85))
    settings = ControlSettings.from_config(config)
    failed, silent = dt.date(2026, 10, 1), dt.date(2026, 10, 2)
    ledger.append("run", f"run:{failed}:failed", {"partition": failed.isoformat(), "status": "failed",
                                                  "error": "PullError: boom", "trigger": "cli"}, partition=failed)
    rows = {(r.control_id, r.partition): r for r in run_list(settings.controls, ledger, failed, silent)}
    assert len(rows) == 2 * len(settings.controls)
    assert rows[("schedule:daily", failed)].status == "exception"
    assert rows[(f"reconcile:{PAIR}", silent)].status == "missed"
    found = {e.id: e for e in derive_exceptions(settings, ledger, failed, silent)}
    assert sorted(found) == [f"schedule:daily@{failed}:failed", f"schedule:daily@{silent}:missed"]
    assert found[f"schedule:daily@{failed}:failed"].detail == "run failed: PullError: boom"
    assert found[f"schedule:daily@{silent}:missed"].raised_at is None   # nothing ran after it yet
    sign_off(settings, ledger, f"schedule:daily@{failed}:failed", by="ana", disposition="remediated",
             note="rerun after the fix")
    assert [e.id for e in derive_exceptions(settings, ledger, failed, silent, open_only=True)] == [
        f"schedule:daily@{silent}:missed"]
