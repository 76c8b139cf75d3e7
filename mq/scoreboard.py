"""Did the demo's injected incidents alert, and did the holiday stay quiet? (ground truth vs alerts)"""
from __future__ import annotations

import datetime as dt


def _alerted(alerts: list[dict], inc: dict) -> list[dict]:
    start, end = dt.date.fromisoformat(inc["start"]), dt.date.fromisoformat(inc["end"])
    hits = [a for a in alerts if a["suppressed"] is None and start <= a["first_partition"] <= end]
    kind = inc["kind"]
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


def score_incidents(pipe, truth: dict) -> list[dict]:
    alerts = pipe.alerts.alerts()
    rows = []
    for inc in truth["incidents"]:
        hits = _alerted(alerts, inc)
        top = next((a["root_causes"][0]["label"] for a in hits if a["root_causes"]), None)
        rows.append({"incident": inc["id"], "dates": inc["start"] if inc["start"] == inc["end"]
                     else f"{inc['start']}..{inc['end']}", "should_alert": inc["should_alert"],
                     "alerted": bool(hits), "alerts": len(hits), "kinds": sorted({a["kind"] for a in hits}),
                     "top_root_cause": top, "ok": bool(hits) == inc["should_alert"]})
    return rows


def print_scoreboard(rows: list[dict]) -> None:
    print(f"\n{'incident':18s} {'dates':22s} {'expect':7s} {'alerted':8s} {'kinds':28s} top root cause")
    for r in rows:
        mark = "yes" if r["alerted"] else "no"
        expect = "alert" if r["should_alert"] else "quiet"
        flag = "" if r["ok"] else "   <-- MISSED" if r["should_alert"] else "   <-- FALSE ALERT"
        print(f"{r['incident']:18s} {r['dates']:22s} {expect:7s} {mark:8s} {','.join(r['kinds']):28s} "
              f"{r['top_root_cause'] or '-'}{flag}")
