"""Secrets are masked wherever `mq` prints or records them."""
from __future__ import annotations

import pytest

from mq.cli import main
from mq.secrets import redact

DEMO = "config/demo.yml"


@pytest.mark.parametrize("text, shown", [
    ("postgresql://svc:s3cret@db:5432/mq", "postgresql://svc:***@db:5432/mq"),
    ("failed for postgresql+psycopg://u:p%40ss@h/d today", "failed for postgresql+psycopg://u:***@h/d today"),
    ("https://hooks.example/x?token=abc&x=1", "https://hooks.example/x?token=***&x=1"),
    ("sqlite:////tmp/state.db", "sqlite:////tmp/state.db"),
])
def test_redact(text, shown):
    assert redact(text) == shown


def test_mq_config_never_prints_the_state_store_password(monkeypatch, capsys):
    monkeypatch.setenv("MQ_STATE_URL", "postgresql://svc:s3cret@127.0.0.1:5432/test")
    assert main(["--config", DEMO, "config"]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out and "postgresql://svc:***@127.0.0.1:5432/test" in out


def test_an_unreachable_state_store_is_one_line_without_the_password(monkeypatch, capsys):
    monkeypatch.setenv("MQ_STATE_URL", "postgresql://svc:s3cret@127.0.0.1:1/test")
    assert main(["--config", DEMO, "alerts", "outbox"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mq: error: state store: ") and err.count("\n") == 1 and "s3cret" not in err


def test_an_invalid_date_in_the_yaml_is_one_line_naming_the_key(tmp_path, capsys):
    bad = tmp_path / "mq.yml"
    bad.write_text("calendar:\n  holidays:\n    - {date: 2026-02-30, name: x}\n"
                   "tables:\n  events: {path: ./e}\nmetrics:\n  n: {table: events}\n")
    assert main(["--config", str(bad), "config"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "calendar.holidays.0.date" in err and "'2026-02-30'" in err
