"""Inhibition rules come from `alerting.inhibit_rules`: validated on load, today's rule by default,
and the alert stage decides with the configured ones."""
from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from mq.config import AlertingSpec, Config, default_inhibit_rules, load_config
from mq.errors import ConfigError
from mq.pipeline import Pipeline

DAY = dt.date(2026, 9, 1)

BASE = """
version: 1
tables:
  events: {path: /data/events}
alerting:
  receivers: [{name: local, file: alerts.jsonl}]
  inhibit_rules:
    - RULE
"""


def load(tmp_path, rule: str):
    path = tmp_path / "mq.yml"
    path.write_text(textwrap.dedent(BASE).replace("RULE", rule))
    return load_config(path)


def test_the_default_rule_lets_a_missing_partition_mute_its_count_alerts():
    (rule,) = AlertingSpec().inhibit_rules
    assert (rule.source_match, rule.target_match, rule.equal) == (
        {"kind": "freshness"}, {"kind": "~anomaly|discrepancy"}, ["partition"])
    assert AlertingSpec().inhibit_rules == default_inhibit_rules()


def test_a_configured_rule_loads(tmp_path):
    config = load(tmp_path, "{source_match: {kind: freshness}, target_match: {severity: warning}, equal: [table]}")
    (rule,) = config.alerting.inhibit_rules
    assert (rule.source_match, rule.target_match, rule.equal) == ({"kind": "freshness"}, {"severity": "warning"},
                                                                  ["table"])


@pytest.mark.parametrize("rule, key, says", [
    ("{source_match: {kind: freshness}, target_match: {kind: '~(anomaly'}}",
     "alerting.inhibit_rules.0.target_match", "label 'kind': '~(anomaly' is not a valid regular expression"),
    ("{source_match: {}, target_match: {kind: anomaly}}",
     "alerting.inhibit_rules.0.source_match", "give at least one label matcher"),
    ("{source_match: {kind: freshness}, target_match: {kind: anomaly}, equal: [par-tition]}",
     "alerting.inhibit_rules.0.equal.0", "must be a plain identifier (letters, digits, underscore) (got 'par-tition')"),
    ("{source_match: {kind: freshness}}", "alerting.inhibit_rules.0.target_match", "Field required"),
    ("{source_match: {kind: freshness}, target_match: {kind: anomaly}, equals: [table]}",
     "alerting.inhibit_rules.0.equals", "Extra inputs are not permitted"),
])
def test_a_bad_rule_fails_on_load_naming_the_file_the_field_and_the_value(tmp_path, rule, key, says):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, rule)
    assert err.value.key == key and str(tmp_path / "mq.yml") in str(err.value) and says in str(err.value)


def _missing_partition_with_a_count_anomaly(pipe) -> None:
    """What the pull and detect stages store for DAY: the table's partition missing, its count flagged."""
    pipe.store.record_pull({"table_name": "events", "partition": DAY, "status": "missing", "row_count": 0}, None)
    pipe.store.save_detections("events", DAY, [{
        "slice_key": "(total)", "detector": "seasonal_mad", "labels": {}, "status": "anomaly",
        "observed": 0.0, "expected": 1000.0, "lower": 900.0, "upper": 1100.0, "score": 9.0,
        "p_value": 1e-9, "q_value": 1e-8, "direction": "low", "run_id": "r"}])


@pytest.mark.parametrize("rules, anomaly", [
    (None, "inhibited"),                                                        # the default rule
    ([], "notify"),                                                             # inhibition off
    ([{"source_match": {"kind": "freshness"}, "target_match": {"kind": "anomaly"},
       "equal": ["partition", "team"]}], "inhibited"),                          # same owner: muted
    ([{"source_match": {"kind": "freshness"}, "target_match": {"kind": "anomaly"},
       "equal": ["partition", "table"]}], "notify"),                            # count alerts carry no table
])
def test_the_alert_stage_decides_with_the_configured_rules(tmp_path, migrated_store_url, rules, anomaly):
    alerting = {"receivers": [{"name": "dq", "file": str(tmp_path / "alerts.jsonl")}], "route": {"receiver": "dq"}}
    if rules is not None:
        alerting["inhibit_rules"] = rules
    config = Config.model_validate({
        "workdir": str(tmp_path), "tables": {"events": {"path": "/x"}},
        "metrics": {"events": {"table": "events", "detectors": [{"name": "seasonal_mad"}]}}, "alerting": alerting})
    pipe = Pipeline(config, state_url=migrated_store_url)
    _missing_partition_with_a_count_anomaly(pipe)
    pipe.alert(DAY)
    decided = {d["decision"] for d in pipe.alerts.decisions(DAY, DAY)}
    assert decided == {"notify", anomaly}
    reasons = [d["reason"] for d in pipe.alerts.decisions(DAY, DAY) if d["decision"] == "inhibited"]
    assert reasons == (["inhibited by freshness alert on events (table=events)"] if anomaly == "inhibited" else [])
