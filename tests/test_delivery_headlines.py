"""What a reader sees first: the title and fallback text lead with the finding, one golden Block Kit
payload per alert kind (built by the real dispatch from real alerts).

Regenerate the golden files after an intended change with
`MQ_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_delivery_headlines.py` and review the diff.
"""
from __future__ import annotations

import datetime as dt

import pytest

from alerting.alert import Alert
from alerting.blockkit import render
from alerting.dispatch import build_notifications
from alerting.lifecycle import Decision
from alerting.route import Destination
from test_delivery_blockkit import assert_matches_golden

DAY = dt.date(2026, 5, 11)
DEST = Destination("slack", ("partition",), None, "root")
LINKS = {"Report": "https://reports.example/mq/index.html"}


def _loss_slice(version: str, observed: float) -> Alert:
    return Alert("discrepancy", "client_vs_warehouse_events", {"platform": "android", "app_version": version},
                 DAY, "warning", "ratio below its band", observed=observed, expected=0.935, lower=0.92,
                 upper=0.95, team="metrics-quality",
                 root_causes=({"label": "platform=android & app_version=10.3",
                               "elements": {"platform": "android", "app_version": "10.3"}, "share": 0.97,
                               "confidence": 0.95},),
                 impact={"events": -1377.4, "lower": -1502.0, "upper": -1251.0, "share_of_total": -0.0191,
                         "direction": "under"})


NULL_SPIKE = {"expectation": "expect_column_values_to_not_be_null", "column": "user_id", "success": False,
              "observed_value": 0.619, "threshold": {"column": "user_id", "mostly": 0.98},
              "unexpected_count": 2480, "unexpected_sample": [None]}
DUPLICATES = {"expectation": "expect_column_values_to_be_unique", "column": "event_id", "success": False,
              "observed_value": 0.952, "threshold": {"column": "event_id"}, "unexpected_count": 1010,
              "unexpected_sample": ["e-000017", "e-000023", "e-000031", "e-000042"]}


def _check(outcome: dict) -> Alert:
    from checks.describe import describe_failure

    return Alert("expectation", "client_events", {"table": "client_events", "expectation": outcome["expectation"],
                                                  "column": outcome["column"]}, DAY, "warning",
                 describe_failure("client_events", outcome), observed=outcome["observed_value"],
                 team="client-platform", table="client_events", details={"outcome": outcome})


KINDS = {
    "discrepancy": ([_loss_slice("10.3", 0.47), _loss_slice("10.2", 0.91)],
                    "android 10.3: client lost 1,377 events (-1.9%) (+1 more alert)"),
    "freshness": ([Alert("freshness", "warehouse_events", {"table": "warehouse_events"}, DAY, "critical",
                         "partition missing", observed=0.0, team="data-engineering", table="warehouse_events")],
                  "warehouse_events partition 2026-05-11 missing"),
    "expectation": ([_check(NULL_SPIKE)], "client_events.user_id: 38.1% of rows null (at most 2% allowed)"),
    "anomaly": ([Alert("anomaly", "warehouse_events", {}, DAY, "critical", "count above its band",
                       observed=41_230.0, expected=20_800.0, lower=19_100.0, upper=22_500.0,
                       team="data-engineering")],
                "warehouse_events (total): 41,230 vs expected 20,800 (+98.2%)"),
}


def _notify(alerts: list[Alert]):
    decisions = [Decision(a.fingerprint, a.partition, "notify", "new incident", a, f"{a.fingerprint}-x", DEST,
                          "slack||2026-05-11") for a in alerts]
    (receiver, n), = build_notifications(decisions, links=LINKS)
    return n


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_title_leads_with_the_finding_and_matches_golden(kind):
    alerts, title = KINDS[kind]
    n = _notify(alerts)
    assert n.title == title
    assert n.team                                   # every kind says whose it is
    text, blocks = render(n)
    assert_matches_golden(f"kind_{kind}", {"text": text, "blocks": blocks})


def test_fallback_text_carries_root_cause_and_impact():
    text, _ = render(_notify(KINDS["discrepancy"][0]))
    assert text.startswith("[WARNING] android 10.3: client lost 1,377 events")
    assert "root cause platform=android & app_version=10.3" in text and "impact -1,377 events" in text


def test_check_message_is_words_not_settings():
    from checks.describe import describe_failure

    null_spike = describe_failure("client_events", NULL_SPIKE)
    assert "None" not in null_spike and "{" not in null_spike and "38.1% of rows null" in null_spike
    dup = describe_failure("client_events", DUPLICATES)
    assert dup == ("client_events.event_id: 4.8% of rows duplicated (none allowed); "
                   "e.g. 'e-000017', 'e-000023', 'e-000031'")


def test_a_check_leads_a_message_it_shares_with_count_anomalies():
    """A duplicate load raises a uniqueness failure and count anomalies; the title names the rule."""
    n = _notify([KINDS["anomaly"][0][0], _check(DUPLICATES)])
    assert n.title.startswith("client_events.event_id: 4.8% of rows duplicated") and "(+1 more alert)" in n.title
    assert n.alerts[0].kind == "expectation"        # listed first, like the title
