"""Incidents on the small demo: every notified group is one incident with an owner; people ack,
assign, resolve and sign it off through `mq incidents`; every step is in the verified ledger and the
SOX report; the workflow refuses steps out of order."""
from __future__ import annotations

import datetime as dt

import pytest

from incidents import IncidentError, next_status
from mq.cli import main
from status.certify import CertifySettings, statuses


def statuses_of(pipe, day):
    """The statuses the pipeline's config certifies on `day`, from its metric store."""
    return statuses(CertifySettings.from_config(pipe.config), pipe.store, day)


@pytest.fixture
def demo(worked_demo, monkeypatch):
    monkeypatch.setenv("MQ_DEMO_DIR", str(worked_demo[2]))   # the CLI reads the same config and store
    monkeypatch.delenv("MQ_STATE_URL", raising=False)
    monkeypatch.delenv("MQ_RECEIVER", raising=False)
    return worked_demo


@pytest.mark.parametrize("status,action,kw,expected", [
    ("open", "ack", {}, "acknowledged"),
    ("open", "assign", {"assignee": "bo"}, "investigating"),
    ("acknowledged", "assign", {"assignee": "bo"}, "investigating"),
    ("acknowledged", "resolve", {"note": "fixed"}, "resolved"),
    ("investigating", "resolve", {"note": "fixed"}, "resolved"),
    ("resolved", "signoff", {"note": "ok", "disposition": "remediated"}, "signed_off"),
    ("open", "signoff", {"note": "seasonal", "disposition": "false_positive"}, "false_positive"),
])
def test_workflow_allows_the_documented_steps(status, action, kw, expected):
    assert next_status(status, action, **kw).to_status == expected


@pytest.mark.parametrize("status,action,kw,says", [
    ("open", "resolve", {"note": "x"}, "acknowledge it first"),
    ("acknowledged", "signoff", {"note": "x", "disposition": "remediated"}, "resolve it first"),
    ("resolved", "ack", {}, "not allowed while the incident is resolved"),
    ("signed_off", "assign", {"assignee": "bo"}, "closed"),
    ("investigating", "resolve", {"note": " "}, "a note is required"),
    ("resolved", "signoff", {"note": "x", "disposition": "maybe"}, "disposition must be one of"),
    ("open", "assign", {}, "an assignee is required"),
])
def test_workflow_refuses_steps_out_of_order_and_says_why(status, action, kw, says):
    with pytest.raises(IncidentError, match=says):
        next_status(status, action, **kw)


def test_every_notified_group_is_one_incident_with_an_owner(demo):
    pipe, truth, work, _ = demo
    incidents = pipe.incidents.list()
    threads = {a["thread_key"] for a in pipe.alerts.alerts() if a["thread_key"]}
    assert len(incidents) == len(threads) > 0
    assert all(i.status == "open" and i.owner for i in incidents)
    loss = next(i for i in truth["incidents"] if i["id"] == "logging-loss")
    on_loss = [i for i in incidents if i.first_partition.isoformat() == loss["start"]]
    assert len(on_loss) == 1
    # the discrepancy is routed to the pair's team
    assert on_loss[0].owner == "metrics-quality"
    opened = [r for r in pipe.ledger.records(kind="incident") if r.payload["action"] == "open"]
    assert {r.payload["incident_id"] for r in opened} == {i.id for i in incidents}


def test_ack_resolve_signoff_end_to_end_through_the_cli(demo, capsys):
    pipe, truth, work, (start, end) = demo
    loss = next(i for i in truth["incidents"] if i["id"] == "logging-loss")
    inc = next(i for i in pipe.incidents.list() if i.first_partition.isoformat() == loss["start"])
    capsys.readouterr()
    assert main(["incidents", "show", inc.id]) == 0
    shown = capsys.readouterr().out
    # evidence: the alerts, the root cause, the impact and the explain output
    assert "platform=android & app_version=10.3" in shown and "impact:" in shown and "explain " in shown
    assert main(["incidents", "resolve", inc.id, "--by", "bo", "--note", "x"]) == 2   # not acknowledged yet
    assert main(["incidents", "ack", inc.id, "--by", "ana"]) == 0
    assert main(["incidents", "assign", inc.id, "--by", "ana", "--to", "bo"]) == 0
    assert main(["incidents", "resolve", inc.id, "--by", "bo", "--note", "SDK 10.3 dropped android events; "
                 "fixed in 10.3.1"]) == 0
    assert main(["incidents", "signoff", inc.id, "--by", "lead", "--disposition", "remediated",
                 "--note", "client counts back within the band"]) == 0
    got = pipe.incidents.get(inc.id)
    assert (got.status, got.row["assignee"], got.row["disposition"]) == ("signed_off", "bo", "remediated")
    assert got.row["acknowledged_at"] <= got.row["resolved_at"] <= got.row["signed_off_at"]
    steps = [(e["action"], e["to"], e.get("by")) for e in pipe.incidents.timeline(inc.id)]
    assert steps == [("open", "open", None), ("ack", "acknowledged", "ana"), ("assign", "investigating", "ana"),
                     ("resolve", "resolved", "bo"), ("signoff", "signed_off", "lead")]
    assert main(["incidents", "ack", inc.id, "--by", "ana"]) == 2      # closed: no more actions
    capsys.readouterr()
    assert main(["incidents", "list", "--status", "signed_off"]) == 0
    assert inc.id in capsys.readouterr().out
    assert main(["ledger", "verify"]) == 0
    # the sign-off is SOX evidence: in the report, with time to acknowledge and to sign off per month
    assert main(["report", "sox", "--start", str(start), "--end", str(end), "--out", str(work / "rep")]) == 0
    csv = (work / "rep" / "incidents.csv").read_text()
    assert inc.id in csv and "remediated" in csv and "client counts back within the band" in csv
    monthly = (work / "rep" / "incident_months.csv").read_text().splitlines()
    assert monthly[0].startswith("month,incidents,acknowledged,median_hours_to_acknowledge")
    assert any(line.startswith(loss["start"][:7]) for line in monthly[1:])
    html = (work / "rep" / "index.html").read_text()
    assert "Incidents" in html and inc.id in html


def test_a_false_alarm_is_closed_without_resolving_and_no_longer_fails_certification(demo):
    pipe, truth, *_ = demo
    dup = next(i for i in truth["incidents"] if i["id"] == "duplicate-load")
    day = dt.date.fromisoformat(dup["start"])
    inc = next(i for i in pipe.incidents.list() if i.first_partition == day)
    failed_before = {s.subject for s in statuses_of(pipe, day) if s.status == "failed" and inc.id in s.incidents}
    assert failed_before
    pipe.incidents.act(inc.id, "signoff", by="lead", disposition="false_positive", note="a planned re-load")
    assert pipe.incidents.get(inc.id).status == "false_positive"
    after = {s.subject: s for s in statuses_of(pipe, day)}
    assert all(inc.id not in after[s].incidents for s in failed_before)
    assert pipe.ledger.verify().ok


def test_accepting_a_change_on_resolve_restarts_the_alerted_slices_baselines(demo, capsys):
    """`resolve --accept-change`: the change is the new normal from the day it began; recorded in the
    ledger, and the next run's baselines of those slices start there (flags up to the disposition feed them)."""
    from mq.stages.detect import DetectSettings, past_flags, subject_history

    pipe, truth, *_ = demo
    loss = next(i for i in truth["incidents"] if i["id"] == "logging-loss")
    inc = next(i for i in pipe.incidents.list() if i.first_partition.isoformat() == loss["start"])
    # Refused before acknowledgement, and then nothing is accepted.
    args = ["incidents", "resolve", inc.id, "--by", "bo", "--note", "10.3 logs differently by design",
            "--accept-change"]
    if pipe.incidents.get(inc.id).status == "open":
        assert main(args) == 2
        assert not pipe.ledger.records(kind="baseline")
        pipe.incidents.act(inc.id, "ack", by="ana")
    if pipe.incidents.get(inc.id).status in ("acknowledged", "investigating"):
        capsys.readouterr()
        assert main(args) == 0
        assert "new baseline from " + loss["start"] in capsys.readouterr().out
    else:   # another test already resolved it: record the acceptance the same way the command does
        pipe.incidents.accept_change(inc.id, by="bo", note="10.3 logs differently by design")
    pair = next(iter(pipe.config.pairs))
    day_after = dt.date.fromisoformat(loss["end"]) + dt.timedelta(days=1)
    settings = DetectSettings.from_config(pipe.config)
    subject = settings.subject(pair)
    hist = subject_history(settings, pipe.store, subject, day_after)
    accepted = past_flags(settings, pipe.store, pipe.ledger, subject, hist, day_after)["accepted"]
    row = accepted.set_index("series_id").loc["platform=android&app_version=10.3"]
    assert (str(row.since), str(row.until)) == (loss["start"], loss["end"])
    assert pipe.ledger.verify().ok
