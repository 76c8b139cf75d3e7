"""Turn the decisions of one run into notifications: one per receiver, incident group and action.

Grouping is what makes one incident one message: every slice of the same group (the route's
`group_by` labels) that fires in this run goes into a single notification; slices that join on later
days, repeats and the resolution are replies in the same thread. The title is the lead finding
(`alerting.headline`), not a count of alerts.
"""
from __future__ import annotations

from collections import defaultdict

from alerting.headline import finding, headline, lead_alert, resolved_headline
from alerting.lifecycle import Decision, notification_key
from alerting.notification import AlertLine, Notification

ACTION_OF = {"notify": "firing", "join": "repeat", "repeat": "repeat", "resolve": "resolved", "correct": "correction"}
SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}


def build_notifications(decisions: list[Decision], links: dict[str, str] | None = None,
                        chart=None) -> list[tuple[str, Notification]]:
    """[(receiver, notification)] for every decision that sends. `chart(alert) -> png bytes | None`."""
    groups: dict[tuple, list[Decision]] = defaultdict(list)
    for d in decisions:
        if d.sends:
            groups[(d.destination.receiver, d.thread_key, ACTION_OF[d.decision])].append(d)
    out = []
    for (receiver, thread_key, action), members in groups.items():
        lines = tuple(_line(d) for d in members)
        worst = max(lines, key=lambda line: SEVERITY_ORDER.get(line.severity, 0))
        fired = [d.alert for d in members if d.alert is not None]
        lead = lead_alert(fired) if fired else None
        members = sorted(members, key=lambda d: d.alert is not lead)   # the title's finding is listed first
        lines = tuple(_line(d) for d in members)
        # The lead finding's impact and root causes when it has them, else those of the first alert that
        # has (a check failing beside a localised discrepancy).
        explained = lead if lead is not None and lead.root_causes else next(
            (a for a in fired if a.root_causes), None)
        kinds = sorted({line.kind for line in lines})
        subjects = sorted({line.metric for line in lines})
        title = (correction_headline(members) if action == "correction" else
                 headline(fired) if fired else resolved_headline([d.extra["incident"] for d in members]))
        teams = sorted({a.team for a in fired if a.team} | {
            d.extra["incident"]["team"] for d in members if d.alert is None and d.extra["incident"].get("team")})
        primary = _chart_subject(members)
        out.append((receiver, Notification(
            key=notification_key(members[0]), thread_key=thread_key, action=action, title=title,
            severity=worst.severity, kind=kinds[0] if len(kinds) == 1 else "mixed",
            metric=subjects[0] if len(subjects) == 1 else None, partition=members[0].partition.isoformat(),
            alerts=lines, impact=explained.impact if explained else None,
            root_causes=explained.root_causes if explained else (), links=dict(links or {}),
            team=", ".join(teams) or None,
            chart_png=chart(primary) if (chart and primary is not None and action == "firing") else None)))
    return out


def _chart_subject(members: list[Decision]):
    """The alert whose series is charted: a discrepancy or anomaly, the broadest slice first."""
    charted = [d.alert for d in members if d.alert is not None and d.alert.kind in ("discrepancy", "anomaly")]
    charted.sort(key=lambda a: (a.kind != "discrepancy", len(a.labels)))
    return charted[0] if charted else None


def correction_headline(members: list[Decision]) -> str:
    """Title of a correction reply: the partition restated and what its lead finding says now."""
    fired = [d.alert for d in members if d.alert is not None]
    now = finding(lead_alert(fired)) if fired else "back within the expected range"
    return f"late data restated {members[0].partition}: {now}"


def _line(d: Decision) -> AlertLine:
    correction = d.extra.get("correction")
    if d.alert is not None:
        a = d.alert
        return AlertLine(fingerprint=d.fingerprint, kind=a.kind, metric=a.subject, labels=dict(a.labels),
                         partition=a.partition.isoformat(), severity=a.severity, observed=a.observed,
                         expected=a.expected, lower=a.lower, upper=a.upper, message=correction or a.message)
    inc = d.extra["incident"]   # a resolution (or a partition restated clean): the incident it is about
    return AlertLine(fingerprint=d.fingerprint, kind=inc["kind"], metric=inc["subject"],
                     labels=dict(inc["labels"]), partition=d.partition.isoformat(), severity=inc["severity"],
                     message=correction or f"clean again on {d.partition} "
                                           f"(incident {inc['first_partition']}..{inc['last_partition']})")
