"""Recovery: find decisions that send but whose notification never reached the outbox, and queue them.

Since the alert stage records decisions and queues their notifications in one transaction, a crash
leaves both or neither; this pass repairs state stores written before that (a run killed between its
decision and its outbox row), where a re-run would otherwise call the alert a duplicate and never send
it. The notification is rebuilt from the incident row, so it carries the incident's latest values and
no chart; its key is the decision's own, so delivery stays exactly-once.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa

from alerting import schema
from alerting.alert import Alert
from alerting.dispatch import build_notifications
from alerting.lifecycle import Decision
from alerting.outbox import outbox_table
from alerting.route import Destination

log = logging.getLogger("mq.alert.recovery")


def unqueued_decisions(conn: sa.Connection) -> list[dict]:
    """Decisions that send (they carry a notification key) with no outbox row for their receiver."""
    d, o = schema.decisions, outbox_table
    queued = sa.select(o.c.id).where(o.c.receiver == d.c.receiver, o.c.key == d.c.notification_key)
    query = (sa.select(d).where(d.c.notification_key.is_not(None), ~sa.exists(queued))
             .order_by(d.c.partition, d.c.fingerprint))
    return [dict(r) for r in conn.execute(query).mappings()]


def requeue_lost(conn: sa.Connection, outbox, links: dict[str, str] | None = None) -> int:
    """Queue the notification of every decided-but-unqueued alert inside `conn`; returns how many."""
    lost = unqueued_decisions(conn)
    if not lost:
        return 0
    a = schema.alerts
    incidents = {r["id"]: dict(r) for r in conn.execute(
        sa.select(a).where(a.c.id.in_({row["alert_id"] for row in lost}))).mappings()}
    decisions = [dec for dec in (_rebuild(row, incidents.get(row["alert_id"])) for row in lost) if dec]
    queued = sum(outbox.enqueue(receiver, n, conn=conn)
                 for receiver, n in build_notifications(decisions, links=links))
    log.warning("recovered %d decided alert(s) that were never queued", len(decisions),
                extra={"mq": {"recovered": [f"{r['fingerprint']}:{r['partition']}" for r in lost]}})
    return queued


def _rebuild(row: dict, inc: dict | None) -> Decision | None:
    if inc is None:  # the incident row went with the crash too: nothing was announced, nothing to repair
        return None
    dest = Destination(row["receiver"], (), None, "recovered")
    if row["decision"] == "resolve":
        return Decision(row["fingerprint"], row["partition"], "resolve", row["reason"], None, inc["id"], dest,
                        inc["thread_key"], extra={"incident": inc})
    alert = Alert(inc["kind"], inc["subject"], dict(inc["labels"]), row["partition"], inc["severity"],
                  inc["message"], observed=inc["observed"], expected=inc["expected"], lower=inc["lower"],
                  upper=inc["upper"], team=inc["team"], table=inc["table_name"],
                  root_causes=tuple(inc["root_causes"] or ()), impact=inc["impact"])
    return Decision(row["fingerprint"], row["partition"], row["decision"], row["reason"], alert, inc["id"], dest,
                    inc["thread_key"])
