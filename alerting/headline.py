"""The headline of a notification: the finding first (what moved, where, how much, which side).

A title that counts alerts ("42 anomaly/discrepancy alerts on ...") makes the reader open the message
to learn anything; phones and e-mail digests show only the title and the fallback text. So the title
states the lead finding, and the count of the other alerts comes last:

    android 10.3: client lost 1,377 events (-1.9%)
    warehouse_events partition 2026-05-11 missing
    client_events.user_id: 38.1% of rows null (at most 2% allowed)
    warehouse_events (total): 41,230 vs expected 20,800 (+98.2%)
"""
from __future__ import annotations

from alerting.alert import Alert
from checks.describe import describe_failure

# Which alert of a group leads: a missing partition explains everything after it; a failed check is a
# broken rule observed directly on the data (duplicated ids, nulls); a localised discrepancy names the
# slice and the events, but which side is wrong is inferred; a count anomaly only says that something
# moved.
_LEAD_ORDER = {"freshness": 0, "expectation": 1, "discrepancy+impact": 2, "anomaly": 3, "discrepancy": 4}


def lead_alert(alerts: list[Alert]) -> Alert:
    """The alert the title is about: most explanatory kind, then critical, then broadest slice, then
    the largest relative move."""
    def rank(a: Alert):
        kind = "discrepancy+impact" if a.kind == "discrepancy" and a.impact else a.kind
        return (_LEAD_ORDER[kind], a.severity != "critical", len(a.labels), -abs(_deviation(a) or 0.0))
    return min(alerts, key=rank)


def headline(alerts: list[Alert]) -> str:
    """The finding of the lead alert, then how many other alerts the message carries."""
    lead = lead_alert(alerts)
    more = len(alerts) - 1
    return finding(lead) + (f" (+{more} more alert{'s' if more > 1 else ''})" if more else "")


def finding(a: Alert) -> str:
    if a.kind == "freshness":
        return f"{a.table or a.subject} partition {a.partition.isoformat()} missing"
    if a.kind == "expectation" and not a.details.get("outcome"):
        return a.message    # not a suite's check (unreadable input, too many dimension values): says it all
    if a.kind == "expectation":
        return describe_failure(a.table or a.subject, a.details["outcome"])
    if a.kind == "discrepancy" and a.impact and a.impact.get("events") is not None:
        return f"{_where(a)}: {_impact_words(a.impact)}"
    if a.kind == "discrepancy":
        return (f"{_where(a)}: client/warehouse ratio {_num(a.observed)} vs expected {_num(a.expected)}"
                f"{_pct(_deviation(a))}")
    return f"{a.subject} {_where(a, total='(total)')}: {_num(a.observed)} vs expected {_num(a.expected)}" \
           f"{_pct(_deviation(a))}"


def resolved_headline(incidents: list[dict]) -> str:
    """Title of the "resolved" reply: which incident ended and how long it lasted."""
    first = min(i["first_partition"] for i in incidents)
    last = max(i["last_partition"] for i in incidents)
    days = (last - first).days + 1
    subjects = sorted({i["subject"] for i in incidents})
    more = f" and {len(subjects) - 1} more" if len(subjects) > 1 else ""
    return f"{subjects[0]}{more} back to normal after {days} day{'s' if days > 1 else ''} ({first}..{last})"


def _where(a: Alert, total: str = "all") -> str:
    """The top root cause's values ("android 10.3"), else the slice's values, else `total`."""
    if a.root_causes and a.root_causes[0].get("elements"):
        return " ".join(str(v) for v in a.root_causes[0]["elements"].values())
    return " ".join(str(v) for v in a.labels.values()) or total


def _impact_words(impact: dict) -> str:
    """"client lost 1,377 events (-1.9%)". The side is `impact.side` when the estimate names it; without
    it the wording follows the sign: fewer client events than the warehouse implies means the client lost
    them, more means it logged extra."""
    events = float(impact["events"])
    side = impact.get("side") or "client"
    if side == "warehouse":
        verb = "counted" if events > 0 else "lost"
        what = f"{abs(events):,.0f} extra events" if events > 0 else f"{abs(events):,.0f} events"
    else:
        verb = "lost" if events < 0 else "logged"
        what = f"{abs(events):,.0f} events" if events < 0 else f"{abs(events):,.0f} extra events"
    share = impact.get("share_of_total")
    return f"{side} {verb} {what}" + (f" ({share * 100:+.1f}%)" if share is not None else "")


def _deviation(a: Alert) -> float | None:
    if a.observed is None or not a.expected:
        return None
    return (a.observed - a.expected) / abs(a.expected)


def _pct(dev: float | None) -> str:
    return f" ({dev * 100:+.1f}%)" if dev is not None else ""


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) >= 1 else f"{value:.3f}"
