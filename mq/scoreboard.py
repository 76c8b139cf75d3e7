"""Did the demo's injected incidents alert, how many messages did each send, and what alerted on clean
days? (ground truth vs alerts and the outbox)

Messages are counted from the outbox, so the table is the same whichever receiver delivers them: a
firing message starts a thread; replies (slices joining, still firing, resolved) are counted with the
thread they belong to. A firing message whose partition lies outside every incident is a false alert.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import sqlalchemy as sa

from alerting.outbox import outbox_table


def _alerted(alerts: list[dict], inc: dict) -> list[dict]:
    start, end = dt.date.fromisoformat(inc["start"]), dt.date.fromisoformat(inc["end"])
    kind = inc["kind"]
    # An alert hits when the days it covers meet the incident's: a drift's alert covers the days since its
    # estimated onset, which may be a day or two before the injected start. A holiday is alerted when an
    # alert begins on it.
    hits = [a for a in alerts if a["suppressed"] is None and a["first_partition"] <= end and (
        a["last_partition"] >= start if kind != "holiday" else a["first_partition"] >= start)]
    if kind == "client_logging_loss":
        want = inc["labels"]
        return [a for a in hits if a["kind"] == "discrepancy" and (
            any(rc.get("elements") == want for rc in (a["root_causes"] or []))
            or all(a["labels"].get(k) == v for k, v in want.items()))]
    if kind == "duplicate_load":
        return [a for a in hits if a["kind"] in ("expectation", "discrepancy", "anomaly")]
    if kind == "missing_partition":
        return [a for a in hits if a["kind"] == "freshness" and a["labels"].get("table") == inc["table"]]
    if kind == "null_spike":
        return [a for a in hits if a["kind"] == "expectation" and a["labels"].get("column") == inc["labels"]["column"]]
    return hits   # holiday: any alert on that day is a false alert


def _window(day: dt.date, incidents: list[dict]) -> str | None:
    for inc in incidents:
        if dt.date.fromisoformat(inc["start"]) <= day <= dt.date.fromisoformat(inc["end"]):
            return inc["id"]
    return None


def messages(pipe) -> list[dict]:
    """Every queued message, oldest first: {action, thread_key, partition, title, kinds}."""
    t = outbox_table.c
    with pipe.engine.connect() as conn:
        rows = conn.execute(sa.select(t.action, t.thread_key, t.title, t.payload).order_by(t.id)).all()
    out = []
    for action, thread, title, payload in rows:
        body = json.loads(payload)
        out.append({"action": action, "thread_key": thread, "title": title,
                    "partition": dt.date.fromisoformat(body["partition"]),
                    "kinds": sorted({a["kind"] for a in body.get("alerts", ())})})
    return out


def score_incidents(pipe, truth: dict) -> tuple[list[dict], list[dict]]:
    """(one row per injected incident, the firing messages of clean days)."""
    alerts, incidents = pipe.alerts.alerts(), truth["incidents"]
    sent = messages(pipe)
    thread_of = {m["thread_key"]: _window(m["partition"], incidents) for m in sent if m["action"] == "firing"}
    firing = Counter(thread_of[m["thread_key"]] for m in sent if m["action"] == "firing")
    replies = Counter(thread_of.get(m["thread_key"]) for m in sent if m["action"] != "firing")
    rows = []
    for inc in incidents:
        hits = _alerted(alerts, inc)
        top = next((a["root_causes"][0]["label"] for a in hits if a["root_causes"]), None)
        rows.append({"incident": inc["id"], "dates": inc["start"] if inc["start"] == inc["end"]
                     else f"{inc['start']}..{inc['end']}", "should_alert": inc["should_alert"],
                     "alerted": bool(hits), "alerts": len(hits), "kinds": sorted({a["kind"] for a in hits}),
                     "messages": firing.get(inc["id"], 0), "replies": replies.get(inc["id"], 0),
                     "top_root_cause": top, "ok": bool(hits) == inc["should_alert"]})
    false = [m for m in sent if m["action"] == "firing" and thread_of[m["thread_key"]] is None]
    return rows, false


def format_scoreboard(rows: list[dict], false: list[dict]) -> str:
    lines = [f"{'incident':18s} {'dates':22s} {'expect':7s} {'alerted':8s} {'messages':9s} "
             f"{'kinds':32s} top root cause"]
    for r in rows:
        mark = "yes" if r["alerted"] else "no"
        expect = "alert" if r["should_alert"] else "quiet"
        flag = "" if r["ok"] else "   <-- MISSED" if r["should_alert"] else "   <-- FALSE ALERT"
        sent = f"{r['messages']} +{r['replies']}" if r["messages"] else "0"
        lines.append(f"{r['incident']:18s} {r['dates']:22s} {expect:7s} {mark:8s} {sent:9s} "
                     f"{','.join(r['kinds']):32s} {r['top_root_cause'] or '-'}{flag}".rstrip())
    lines.append("")
    lines.append("messages: firing messages +replies in their threads (joined slices, still firing, resolved)")
    lines.append(f"false alerts (firing messages on clean days): {len(false)}")
    for m in false:
        lines.append(f"  {m['partition']}  {','.join(m['kinds'])}: {m['title']}")
    return "\n".join(lines)
