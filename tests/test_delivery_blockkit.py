"""Block Kit rendering: golden payloads, Slack's limits, and the notification's JSON form.

Regenerate the golden files after an intended layout change with
`MQ_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_delivery_blockkit.py` and review the diff.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from alerting.blockkit import MAX_BLOCKS, MAX_HEADER_CHARS, MAX_SECTION_CHARS, render
from alerting.notification import AlertLine, Notification

GOLDEN = Path(__file__).parent / "golden" / "blockkit"
UPDATE = os.environ.get("MQ_UPDATE_GOLDEN") == "1"


def _alert(i: int, **changes) -> AlertLine:
    base = AlertLine(
        fingerprint=f"fp-{i:04d}", kind="client_vs_warehouse", metric="purchase_events",
        labels={"platform": "android", "app_version": f"10.{i}"}, partition="2024-05-01", severity="critical",
        observed=48_210.0 - i, expected=61_300.0, lower=58_900.0, upper=63_700.0, message="",
    )
    return dataclasses.replace(base, **changes)


def _firing(**changes) -> Notification:
    base = Notification(
        key="client_vs_warehouse/purchase_events/2024-05-01/firing", thread_key="client_vs_warehouse/purchase_events",
        action="firing", title="Client vs warehouse mismatch on purchase_events", severity="critical",
        kind="client_vs_warehouse", metric="purchase_events", partition="2024-05-01",
        alerts=(_alert(0, message="client counts 21 % below the warehouse"),),
        impact={"events": -13_090.0, "lower": -15_490.0, "upper": -10_690.0, "share_of_total": -0.0123,
                "direction": "under"},
        root_causes=({"label": "platform=android & app_version=10.0", "share": 0.93, "confidence": 0.9},
                     {"label": "country=BR", "share": 0.05, "confidence": 0.4}),
        links={"Airflow run": "https://airflow.example/dags/mq_daily/runs/2024-05-01",
               "Report": "https://reports.example/mq/2024-05-01.html"},
    )
    return dataclasses.replace(base, **changes)


CASES = {
    "firing_single_slice": lambda: _firing(),
    "firing_many_slices": lambda: _firing(alerts=tuple(_alert(i) for i in range(200)), metric=None),
    "repeat": lambda: _firing(key="k/repeat/2024-05-02", action="repeat", partition="2024-05-02"),
    "resolved": lambda: _firing(key="k/resolved/2024-05-03", action="resolved", partition="2024-05-03",
                                alerts=(_alert(0, observed=61_000.0),), impact=None, root_causes=()),
    "minimal_warning": lambda: Notification(
        key="freshness/orders/2024-05-01", thread_key="freshness/orders", action="firing",
        title="orders <late> & stale", severity="warning", kind="freshness", metric="orders",
        partition="2024-05-01", alerts=(AlertLine("fp-x", "freshness", "orders", {}, "2024-05-01", "warning"),)),
}


def assert_matches_golden(name: str, payload: dict) -> None:
    path = GOLDEN / f"{name}.json"
    text = json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"{path} is missing: run with MQ_UPDATE_GOLDEN=1 to create it, then review it")
    assert json.loads(path.read_text(encoding="utf-8")) == payload, (
        f"Block Kit payload for {name!r} changed; if intended, rerun with MQ_UPDATE_GOLDEN=1 and review the diff"
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_payload_matches_golden_file(name):
    text, blocks = render(CASES[name]())
    assert_matches_golden(name, {"text": text, "blocks": blocks})


@pytest.mark.parametrize("name", sorted(CASES))
def test_payload_respects_slack_limits(name):
    _, blocks = render(CASES[name]())
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= MAX_HEADER_CHARS
        for text in _texts(block):
            assert len(text) <= MAX_SECTION_CHARS


def _texts(block: dict) -> list[str]:
    texts = [block["text"]["text"]] if "text" in block else []
    texts += [f["text"] for f in block.get("fields", [])]
    texts += [e["text"] for e in block.get("elements", []) if "text" in e]
    return texts


def test_two_hundred_slices_are_truncated_with_a_count():
    text, blocks = render(CASES["firing_many_slices"]())
    shown = sum(t.count("• `") for b in blocks for t in _texts(b))
    everything = json.dumps(blocks)
    assert f"... and {200 - shown} more slices" in everything
    assert 0 < shown < 200
    assert "200 alerts" in text


def test_long_texts_are_clipped_to_the_limits():
    huge = _firing(title="x" * 500, alerts=(_alert(0, message="m" * 5000),),
                   root_causes=tuple({"label": "l" * 900, "share": 0.1} for _ in range(20)))
    _, blocks = render(huge)
    assert len(blocks[0]["text"]["text"]) == MAX_HEADER_CHARS
    assert all(len(t) <= MAX_SECTION_CHARS for b in blocks for t in _texts(b))
    assert "... and 15 more causes" in json.dumps(blocks)


def test_user_text_cannot_inject_slack_markup():
    _, blocks = render(_firing(alerts=(_alert(0, labels={"team": "<!channel>"}),)))
    assert "<!channel>" not in json.dumps(blocks)
    assert "&lt;!channel&gt;" in json.dumps(blocks)


def test_resolved_header_says_resolved():
    text, blocks = render(CASES["resolved"]())
    assert text.startswith("[CRITICAL] Resolved:")
    assert blocks[0]["text"]["text"].startswith(":white_check_mark: Resolved:")


def test_notification_json_round_trip_keeps_the_chart():
    n = _firing(chart_png=b"\x89PNG\r\n\x1a\nfake")
    wire = json.loads(json.dumps(n.to_json()))
    assert isinstance(wire["chart_png"], str)
    assert Notification.from_json(wire) == n


@pytest.mark.parametrize("changes, word", [
    ({"action": "fired"}, "action"),
    ({"key": ""}, "key"),
    ({"alerts": ({"fingerprint": "x"},)}, "alerts"),
])
def test_invalid_notification_names_the_field(changes, word):
    with pytest.raises(ValueError, match=word):
        _firing(**changes)


def test_a_title_that_already_says_resolved_is_not_prefixed_twice():
    text, blocks = render(_firing(action="resolved", title="resolved: 3 anomaly alerts on orders"))
    assert blocks[0]["text"]["text"] == ":white_check_mark: Resolved: 3 anomaly alerts on orders"
    assert text.count("esolved") == 1


def test_numpy_numbers_and_nan_become_plain_json():
    np = pytest.importorskip("numpy")
    n = _firing(alerts=(_alert(0, observed=np.int64(5), expected=np.float64("nan")),),
                impact={"events": np.float64(-3.0), "share_of_total": np.float32(0.5)},
                root_causes=[{"label": "a=b", "share": np.float64(0.9)}])
    wire = json.loads(json.dumps(n.to_json()))
    assert wire["alerts"][0]["observed"] == 5.0 and wire["alerts"][0]["expected"] is None
    assert wire["impact"] == {"events": -3.0, "share_of_total": 0.5}
    assert Notification.from_json(wire) == n
