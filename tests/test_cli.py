"""The `mq` command as a user meets it: help that teaches, one-line errors, Slack when configured."""
from __future__ import annotations

import datetime as dt

import pytest

from conftest import DEMO_CONFIG
from mq.cli import main
from slack_server import running_slack_server


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_lists_commands_with_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    text = capsys.readouterr().out
    assert exit_.value.code == 0
    for word in ("demo", "run", "backfill", "alerts", "silence", "explain", "report", "ledger", "examples:"):
        assert word in text


def test_bad_date_is_explained(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--date", "2026-13-40"])
    assert "expected a date as YYYY-MM-DD, got '2026-13-40'" in capsys.readouterr().err


def test_bad_config_is_one_line_naming_file_key_value(tmp_path, capsys):
    bad = tmp_path / "mq.yml"
    bad.write_text(DEMO_CONFIG.read_text().replace("table: warehouse_events\n    expression",
                                                   "table: warehouse_evnts\n    expression"))
    code, _, err = run_cli(capsys, "--config", str(bad), "config")
    assert code == 2
    assert err.count("\n") == 1
    assert f"{bad}: metrics.warehouse_events.table: unknown table 'warehouse_evnts'" in err


def test_missing_table_is_one_line(demo_env, capsys, spark):
    (demo_env / "warehouse").unlink()
    code, _, err = run_cli(capsys, "--config", str(DEMO_CONFIG), "run", "--date", "2026-09-30")
    assert code == 2 and err.count("\n") == 1
    assert "tables.client_events.path:" in err and "does not exist" in err


def test_sql_error_in_a_metric_is_one_line(demo_env, tmp_path, capsys, spark):
    cfg = tmp_path / "mq.yml"
    text = DEMO_CONFIG.read_text().replace("expression: COUNT(*)\n    description: Events logged",
                                           "expression: SUM(no_such_col)\n    description: Events logged")
    cfg.write_text(text.replace("../checks/", f"{DEMO_CONFIG.parent.parent}/checks/"))
    code, _, err = run_cli(capsys, "--config", str(cfg), "run", "--date", "2026-09-30")
    assert code == 2 and err.count("\n") == 1
    assert "metrics.client_events.expression: Spark SQL error in 'SUM(no_such_col)'" in err


def test_alerts_reach_slack_when_configured(demo_env, demo_warehouse, capsys, monkeypatch, spark):
    """The null-spike day through the CLI with Slack configured: one Block Kit message arrives."""
    day = next(i["start"] for i in demo_warehouse[1]["incidents"] if i["id"] == "null-spike")
    with running_slack_server() as server:
        monkeypatch.setenv("MQ_RECEIVER", "slack")
        monkeypatch.setenv("MQ_SLACK_TOKEN", server.token)
        monkeypatch.setenv("MQ_SLACK_BASE_URL", server.api_url)
        monkeypatch.setenv("MQ_SLACK_CHANNEL", "C0DEMO")
        assert run_cli(capsys, "--config", str(DEMO_CONFIG), "run", "--date", day)[0] == 0
        posts = server.calls("chat.postMessage")
        assert len(posts) == 1
        text = str(posts[0].body["blocks"])
        assert "user_id" in text and day in text
        # A re-run sends nothing more.
        assert run_cli(capsys, "--config", str(DEMO_CONFIG), "run", "--date", day)[0] == 0
        assert len(server.calls("chat.postMessage")) == 1
    code, out, _ = run_cli(capsys, "--config", str(DEMO_CONFIG), "alerts", "outbox")
    assert "outbox empty" in out


def test_slack_failure_stays_queued_until_fixed(demo_env, demo_warehouse, capsys, monkeypatch, spark):
    day = next(i["start"] for i in demo_warehouse[1]["incidents"] if i["id"] == "missing-partition")
    with running_slack_server() as server:
        monkeypatch.setenv("MQ_RECEIVER", "slack")
        monkeypatch.setenv("MQ_SLACK_TOKEN", "xoxb-revoked")
        monkeypatch.setenv("MQ_SLACK_BASE_URL", server.api_url)
        assert run_cli(capsys, "--config", str(DEMO_CONFIG), "run", "--date", day)[0] == 0
        code, out, _ = run_cli(capsys, "--config", str(DEMO_CONFIG), "alerts", "outbox")
        assert "invalid_auth" in out and "xoxb-revoked" not in out
        monkeypatch.setenv("MQ_SLACK_TOKEN", server.token)
        code, out, _ = run_cli(capsys, "--config", str(DEMO_CONFIG), "alerts", "deliver")
        assert "delivered 1" in out
        assert len(server.messages) == 1          # the failed attempt stored nothing; the retry did


def test_silence_commands(demo_env, capsys):
    until = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    code, out, _ = run_cli(capsys, "--config", str(DEMO_CONFIG), "silence", "add", "--match", "platform=android",
                           "--author", "ana", "--reason", "SDK rollout", "--expires", until)
    assert code == 0 and "silence #1" in out
    code, out, _ = run_cli(capsys, "--config", str(DEMO_CONFIG), "silence", "list")
    assert "active" in out and "SDK rollout" in out
    code, out, _ = run_cli(capsys, "--config", str(DEMO_CONFIG), "silence", "expire", "1", "--by", "ana")
    assert "expired" in out
    code, _, err = run_cli(capsys, "--config", str(DEMO_CONFIG), "silence", "add", "--match", "platform",
                           "--author", "a", "--reason", "r", "--expires", until)
    assert code == 2 and "expected LABEL=VALUE" in err


def test_silence_list_says_when_there_are_none(demo_env, capsys):
    code, out, _ = run_cli(capsys, "--config", str(DEMO_CONFIG), "silence", "list")
    assert code == 0 and out == "no silences\n"


def test_progress_without_a_terminal_is_one_line_per_partition(capsys):
    import io

    from mq.progress import progress

    sink = io.StringIO()   # not a terminal, like CI, nohup or an Airflow task log
    with progress(3, "backfill", file=sink) as bar:
        for day in ("2026-09-17", "2026-09-18", "2026-09-19"):
            bar.update(1, day)
    lines = sink.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "backfill 1/3 2026-09-17", "backfill 2/3 2026-09-18", "backfill 3/3 2026-09-19"]
