"""Render a `Notification` as a Slack Block Kit message: the one place that knows Slack's layout.

Slack refuses messages over its limits, so they are respected here by truncating *with a count*
("... and 37 more slices") rather than failing: 50 blocks per message, 3000 characters per section text,
2000 per field, 150 per header.
"""
from __future__ import annotations

from alerting.notification import AlertLine, Notification

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_FIELD_CHARS = 2000
MAX_HEADER_CHARS = 150
MAX_FALLBACK_CHARS = 3000
MAX_SLICES_SHOWN = 15  # a longer list is noise in a channel; the report link has them all
MAX_ROOT_CAUSES_SHOWN = 5
MAX_LABEL_CHARS = 300  # one runaway label must not push the rest of a section past the limit

_SEVERITY_EMOJI = {
    "critical": ":rotating_light:",
    "high": ":red_circle:",
    "error": ":red_circle:",
    "warning": ":warning:",
    "medium": ":warning:",
    "low": ":large_blue_circle:",
    "info": ":information_source:",
}
_ACTION_PREFIX = {"firing": "", "repeat": "Still firing: ", "resolved": "Resolved: ", "correction": "Correction: "}


def render(n: Notification) -> tuple[str, list[dict]]:
    """(fallback text for notifications and screen readers, Block Kit blocks)."""
    blocks: list[dict] = [_header(n), _summary(n)]
    blocks += _slices(n)
    if n.impact:
        blocks.append(_section(_impact_text(n.impact)))
    if n.root_causes:
        blocks.append(_section(_root_causes_text(n.root_causes)))
    if n.links:
        blocks.append(_section(" · ".join(f"<{_escape_url(url)}|{_escape(name)}>" for name, url in n.links.items())))
    blocks.append(_context(f"metrics-quality · {n.action} · `{_escape(n.key)}`"))
    return _fallback(n), _fit(blocks)


def _fallback(n: Notification) -> str:
    """What phones and e-mail digests show: the finding, its top root cause and impact, then where."""
    parts = [f"[{n.severity.upper()}] {_titled(n)}"]
    if n.root_causes and not n.is_resolved:
        parts.append(f"root cause {n.root_causes[0].get('label', '?')}")
    if n.impact and n.impact.get("events") is not None and not n.is_resolved:
        share = n.impact.get("share_of_total")
        parts.append(f"impact {_number(n.impact['events'], signed=True)} events"
                     + (f" ({share * 100:+.2f} % of total)" if share is not None else ""))
    where = ", ".join(part for part in (n.metric, n.partition, n.team and f"team {n.team}") if part)
    count = f"; {len(n.alerts)} alerts" if len(n.alerts) > 1 else ""
    return _clip(" · ".join(parts) + f" ({where}{count})", MAX_FALLBACK_CHARS)


def _titled(n: Notification) -> str:
    """The title with "Still firing: " / "Resolved: " in front, unless the title already says so."""
    prefix = _ACTION_PREFIX[n.action]
    if n.title.lower().startswith(prefix.lower()):
        return prefix + n.title[len(prefix):]
    return prefix + n.title


def _header(n: Notification) -> dict:
    emoji = ":white_check_mark:" if n.is_resolved else _SEVERITY_EMOJI.get(n.severity.lower(), ":bell:")
    text = f"{emoji} {_titled(n)}"
    return {"type": "header", "text": {"type": "plain_text", "text": _clip(text, MAX_HEADER_CHARS), "emoji": True}}


def _summary(n: Notification) -> dict:
    pairs = [("Severity", n.severity), ("Kind", n.kind), ("Metric", n.metric or "several"), ("Partition", n.partition)]
    if n.team:
        pairs.append(("Team", n.team))
    if len(n.alerts) > 1:
        pairs.append(("Slices", str(len(n.alerts))))
    return {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": _clip(f"*{name}*\n{_escape(value)}", MAX_FIELD_CHARS)} for name, value in pairs
        ],
    }


def _slices(n: Notification) -> list[dict]:
    """Observed vs expected per slice, packed into as few sections as the 3000-char limit allows."""
    if not n.alerts:
        return []
    heading = "*Observed vs expected*" if not n.is_resolved else "*Back within expected range*"
    shown = n.alerts[:MAX_SLICES_SHOWN]
    blocks: list[dict] = []
    current = heading
    for alert in shown:
        line = _clip(_slice_line(alert), MAX_SECTION_CHARS - len(heading) - 1)
        if len(current) + 1 + len(line) > MAX_SECTION_CHARS:
            blocks.append(_section(current))
            current = line
        else:
            current = f"{current}\n{line}"
    blocks.append(_section(current))
    hidden = len(n.alerts) - len(shown)
    if hidden:
        blocks.append(_context(f"... and {hidden} more slices"))
    return blocks


def _slice_line(alert: AlertLine) -> str:
    if alert.kind in ("expectation", "freshness") and alert.message:
        # A check's message already says the rule, threshold, observation and examples in words.
        return f"• {_escape(_clip(alert.message, MAX_SECTION_CHARS // 2))}"
    line = f"• `{_escape(_clip(alert.slice_label, MAX_LABEL_CHARS))}`"
    if alert.observed is not None:
        line += f" observed *{_number(alert.observed)}*"
    if alert.expected is not None:
        line += f" vs expected *{_number(alert.expected)}*"
    if alert.lower is not None or alert.upper is not None:
        line += f" (range {_number(alert.lower)} to {_number(alert.upper)})"
    if alert.deviation is not None:
        line += f", {alert.deviation * 100:+.1f} %"
    if alert.message:
        line += f" — {_escape(_clip(alert.message, MAX_LABEL_CHARS))}"
    return line


def _impact_text(impact: dict) -> str:
    text = "*Estimated impact:* "
    side, events = impact.get("side"), impact.get("events")
    if side in ("client", "warehouse") and events is not None:
        # Stated on the side that moved against its own history (see rootcause.side).
        verb = "over-counted" if events > 0 else "lost" if side == "client" else "under-counted"
        low, high = sorted(abs(float(impact.get(k) or 0.0)) for k in ("lower", "upper"))
        text += f"{side} {verb} about {_number(abs(events))} events ({_number(low)} to {_number(high)})"
        if impact.get("share_of_total") is not None:
            text += f", {impact['share_of_total'] * 100:+.2f} % of the client total"
        return _clip(text, MAX_SECTION_CHARS)
    text += f"{_number(events, signed=True)} events" if events is not None else "unknown"
    share = impact.get("share_of_total")
    if share is not None:
        text += f" ({share * 100:+.2f} % of total)"
    if impact.get("lower") is not None or impact.get("upper") is not None:
        text += f", range {_number(impact.get('lower'), signed=True)} to {_number(impact.get('upper'), signed=True)}"
    direction = impact.get("direction")
    if direction:
        text += f" · {_escape(str(direction))}-count"
    return _clip(text, MAX_SECTION_CHARS)


def _root_causes_text(root_causes: tuple[dict, ...]) -> str:
    lines = ["*Top root causes*"]
    for rank, cause in enumerate(root_causes[:MAX_ROOT_CAUSES_SHOWN], start=1):
        line = f"{rank}. `{_escape(_clip(str(cause.get('label', '?')), MAX_LABEL_CHARS))}`"
        if cause.get("share") is not None:
            line += f" explains {cause['share'] * 100:.0f} % of the deviation"
        if cause.get("confidence") is not None:
            line += f" (confidence {cause['confidence']:.2f})"
        lines.append(line)
    hidden = len(root_causes) - MAX_ROOT_CAUSES_SHOWN
    if hidden > 0:
        lines.append(f"... and {hidden} more causes")
    return _clip("\n".join(lines), MAX_SECTION_CHARS)


def _fit(blocks: list[dict]) -> list[dict]:
    """Keep the first blocks and the closing context within Slack's 50-block limit, saying what was cut."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    kept, footer = blocks[: MAX_BLOCKS - 2], blocks[-1]
    return kept + [_context(f"... and {len(blocks) - len(kept) - 1} more blocks"), footer]


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, MAX_SECTION_CHARS)}}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text, MAX_SECTION_CHARS)}]}


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def _escape(text: str) -> str:
    """Slack mrkdwn control characters; the rest is shown as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_url(url: str) -> str:
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")


def _number(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    sign = "+" if signed else ""
    if float(value).is_integer() or abs(value) >= 1000:
        return f"{value:{sign},.0f}"
    if abs(value) >= 1:
        return f"{value:{sign},.2f}"
    return f"{value:{sign}.4g}"


# ---- incident buttons (Slack interactivity, handled by `mq serve` at /slack/actions) ------------------
INCIDENT_ACTIONS_BLOCK = "mq_incident_actions"
INCIDENT_STATE_BLOCK = "mq_incident_state"


def with_incident_actions(blocks: list[dict], n: Notification, status_url: str) -> list[dict]:
    """`blocks` with the incident's buttons appended: Acknowledge, Silence 24 h, Open status page.

    The button value is the incident id (derived from the thread key, so it is known before the
    incident row is read); the status page link opens the incident's anchor."""
    from incidents import incident_id

    iid = incident_id(n.thread_key)
    button = lambda action_id, text, **extra: {  # noqa: E731 - three one-line buttons
        "type": "button", "action_id": action_id, "value": iid,
        "text": {"type": "plain_text", "text": text}, **extra}
    actions = {"type": "actions", "block_id": INCIDENT_ACTIONS_BLOCK, "elements": [
        button("mq_ack", "Acknowledge", style="primary"),
        button("mq_silence_24h", "Silence 24 h"),
        button("mq_open_status", "Open status page", url=f"{status_url.rstrip('/')}/#{iid}")]}
    return blocks[: MAX_BLOCKS - 1] + [actions]


def incident_state_block(text: str) -> dict:
    """The line an action writes into the message in place ("Acknowledged by ana at 09:12 UTC")."""
    block = _context(text)
    block["block_id"] = INCIDENT_STATE_BLOCK
    return block
