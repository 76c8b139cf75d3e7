"""Config files are validated on load: a mistake names the file, the key and the value."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mq.config import load_config
from mq.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

BASE = """
version: 1
dimensions: [platform]
tables:
  events: {path: /data/events}
metrics:
  event_count: {table: events, expression: "COUNT(*)", detectors: [{name: seasonal_mad}]}
alerting:
  receivers: [{name: local, file: alerts.jsonl}]
"""


def write(tmp_path, text: str):
    path = tmp_path / "mq.yml"
    path.write_text(textwrap.dedent(text))
    return path


def test_demo_config_loads_with_every_section(demo_config):
    assert set(demo_config.tables) == {"client_events", "warehouse_events"}
    assert demo_config.pairs["client_vs_warehouse_events"].client == "client_events"
    assert demo_config.state_url.startswith("sqlite:///")
    assert str(demo_config.workdir_path) in demo_config.state_url


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    config = load_config(write(tmp_path, BASE.replace("/data/events", "data/events")))
    assert config.resolve(config.tables["events"].path) == tmp_path / "data" / "events"


def test_environment_variables_expand_with_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("EVENTS_PATH", "/lake/events")
    text = BASE.replace("/data/events", '"${EVENTS_PATH}"').replace("alerts.jsonl", '"${SINK:-sink.jsonl}"')
    config = load_config(write(tmp_path, text))
    assert config.tables["events"].path == "/lake/events"
    assert config.alerting.receivers[0].file == "sink.jsonl"


def test_state_url_environment_override(tmp_path, monkeypatch):
    monkeypatch.setenv("MQ_STATE_URL", "postgresql://root@127.0.0.1/test")
    assert load_config(write(tmp_path, BASE)).state_url == "postgresql://root@127.0.0.1/test"


@pytest.mark.parametrize("old, new, key, value", [
    ("table: events, expression", "table: evnts, expression", "metrics.event_count.table", "evnts"),
    ("{name: seasonal_mad}", "{name: seasonal_madd}", "metrics.event_count.detectors.0", None),
    ("dimensions: [platform]", "dimensions: [plat-form]", "dimensions.0", "plat-form"),
    ("path: /data/events", "path: /data/events, table: db.events", "tables.events", None),
    ("version: 1", "version: 2", "version", "2"),
    ("file: alerts.jsonl", "slack: {}", "alerting.receivers.0", None),
    ("alerting:\n", "alerting:\n  drift_horizon_days: -3\n", "alerting.drift_horizon_days", "-3"),
])
def test_bad_config_names_file_key_and_value(tmp_path, old, new, key, value):
    path = write(tmp_path, BASE.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {key}")
    if value is not None:
        assert value in message
    assert "\n" not in message


def test_unknown_key_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match=r"tables\.events\.partiton_column: Extra inputs"):
        load_config(write(tmp_path, BASE.replace("{path: /data/events}", "{path: /data/events, partiton_column: ds}")))


def test_unknown_table_in_metric_is_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown table 'evnts'"):
        load_config(write(tmp_path, BASE.replace("table: events, expression", "table: evnts, expression")))


def test_route_to_undefined_receiver(tmp_path):
    text = BASE + "  route: {receiver: pager}\n"
    with pytest.raises(ConfigError, match="receiver 'pager' is not defined"):
        load_config(write(tmp_path, text))


def test_yaml_syntax_error_gives_the_line(tmp_path):
    with pytest.raises(ConfigError, match=r"mq\.yml: line \d+: not valid YAML"):
        load_config(write(tmp_path, BASE + "  route: [unclosed\n"))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yml")


def test_content_hash_changes_with_the_definition(tmp_path):
    a = load_config(write(tmp_path, BASE))
    b = load_config(write(tmp_path, BASE.replace('"COUNT(*)"', '"COUNT(DISTINCT user_id)"')))
    assert a.content_hash != b.content_hash


def test_detection_section_picks_the_engine_and_rejects_unknown_ones(tmp_path):
    assert load_config(write(tmp_path, BASE)).detection.engine == "auto"
    config = load_config(write(tmp_path, BASE + "detection: {engine: spark, group_series: 2000}\n"))
    assert (config.detection.engine, config.detection.group_series) == ("spark", 2000)
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, BASE + "detection: {engine: gpu}\n"))
    assert str(err.value).startswith(f"{tmp_path / 'mq.yml'}: detection.engine") and "gpu" in str(err.value)
    with pytest.raises(ConfigError, match=r"detection\.group_series: Input should be greater than or equal to 1"):
        load_config(write(tmp_path, BASE + "detection: {group_series: 0}\n"))


def test_a_detector_reading_further_back_than_history_days_is_refused_naming_both(tmp_path):
    """A daily run loads `history_days` of history; a detector needing more would give other verdicts
    daily than in a backfill, so the config is refused with the number of days it needs."""
    text = (REPO / "config" / "demo.yml").read_text()
    assert "history_days: 98" in text
    bad = tmp_path / "mq.yml"
    bad.write_text(text.replace("history_days: 98", "history_days: 60"))
    with pytest.raises(ConfigError) as err:
        load_config(bad, environ={"MQ_DEMO_DIR": str(tmp_path)})
    message = str(err.value)
    assert str(bad) in message and "alerting.history_days: 60" in message
    assert "'ratio_drift'" in message and "at least 97" in message
    ok = tmp_path / "ok.yml"
    ok.write_text(text.replace("history_days: 98", "history_days: 97"))
    assert load_config(ok, environ={"MQ_DEMO_DIR": str(tmp_path)}).alerting.history_days == 97
