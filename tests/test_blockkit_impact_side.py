"""The Slack impact line states the impact on the side that moved (warehouse over-count, client loss)."""
from __future__ import annotations

from alerting.blockkit import render
from alerting.notification import Notification


def notification(impact: dict) -> Notification:
    return Notification(key="k", thread_key="t", action="firing", title="client_vs_warehouse_events discrepancy",
                        severity="warning", kind="discrepancy", metric="client_vs_warehouse_events",
                        partition="2026-09-22", alerts=(), impact=impact)


def impact_line(impact: dict) -> str:
    _, blocks = render(notification(impact))
    return next(b["text"]["text"] for b in blocks if "Estimated impact" in b.get("text", {}).get("text", ""))


def test_a_warehouse_duplicate_reads_as_a_warehouse_over_count_with_its_range():
    line = impact_line({"events": 14012.4, "lower": 13850.2, "upper": 14130.9, "share_of_total": 0.21,
                        "direction": "over", "side": "warehouse"})

    assert "warehouse over-counted about 14,012 events (13,850 to 14,131)" in line


def test_a_client_loss_reads_as_events_the_client_lost():
    line = impact_line({"events": -5260.0, "lower": -5400.0, "upper": -5100.0, "share_of_total": -0.03,
                        "direction": "under", "side": "client"})

    assert "client lost about 5,260 events (5,100 to 5,400)" in line
