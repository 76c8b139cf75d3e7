"""An incident's evidence from its incident book alone: the alerts of its thread, their impact, and the
`mq explain` text of each pair discrepancy; on an in-memory SQLite, no Spark and no pipeline."""
from __future__ import annotations

import datetime as dt

from alerting.schema import alerts as alert_table
from incidents import IncidentBook, incident_id
from incidents.evidence import gather
from test_certify_stage import DAY, NOW, all_clean, ledger, settings, store  # noqa: F401 (fixtures)

PAIR = "client_vs_warehouse"
IMPACT = {"events": -1200.0, "lower": -1500.0, "upper": -900.0, "share_of_total": -0.12}


def discrepancy(store, subject: str, labels: dict, impact: dict | None) -> None:
    now = dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc)
    with store.engine.begin() as conn:
        conn.execute(alert_table.insert().values(
            id=f"{subject}-{DAY}-{len(labels)}", fingerprint=f"{len(labels)}" * 32, kind="discrepancy",
            subject=subject, labels=labels, severity="critical", status="firing", first_partition=DAY,
            last_partition=DAY, first_fired_at=now, last_fired_at=now, message="client below warehouse",
            thread_key="t|1", receiver="local", impact=impact, root_causes=[]))


def test_the_evidence_explains_each_pair_discrepancy_of_the_incident(settings, store, ledger):
    all_clean(store)
    discrepancy(store, PAIR, {}, IMPACT)
    discrepancy(store, PAIR, {"platform": "android"}, None)
    book = IncidentBook(store.engine, ledger)
    for new in book.to_open(settings.ownership, NOW):
        book.open(new)
    asked = []

    def explain(pair: str, day: dt.date) -> str:
        asked.append((pair, day))
        return f"{pair} is short on {day}"

    found = gather(book, incident_id("t|1"), pairs=(PAIR,), explain=explain)
    assert len(found.alerts) == 2 and found.subjects == [PAIR]
    assert found.impact == IMPACT
    assert asked == [(PAIR, DAY)]     # the slice's discrepancy is covered by the pair's
    assert found.explain == {f"{PAIR} on {DAY}": f"{PAIR} is short on {DAY}"}
    assert "impact: -1,200 events (-1,500 .. -900), -12.00% of the total" in found.lines()
    assert gather(book, incident_id("t|1"), explain=explain).explain == {}   # not a pair of the config
