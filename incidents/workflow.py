"""The incident workflow as a pure function: (status, action) -> the next status and why.

    open -> acknowledged -> investigating -> resolved -> signed_off
      \\_____________________\\________________\\_______-> false_positive

An incident is the notified group of alerts about one problem (one thread). People move it along;
every move is a ledger record, so the lifecycle is audit evidence, not just a UI state. Resolving needs
someone to have acknowledged it first: time to acknowledge is a reported control metric, and skipping
the step would leave it undefined.
"""
from __future__ import annotations

from dataclasses import dataclass

from incidents.errors import IncidentError

STATUSES = ("open", "acknowledged", "investigating", "resolved", "signed_off", "false_positive")
FINAL = ("signed_off", "false_positive")
ACTIONS = ("ack", "assign", "resolve", "signoff")
# Dispositions of a sign-off (the same vocabulary as control exceptions, minus "reopened").
DISPOSITIONS = ("remediated", "accepted", "duplicate", "false_positive")

_FROM = {
    "ack": ("open",),
    "assign": ("open", "acknowledged", "investigating"),
    "resolve": ("acknowledged", "investigating"),
    "signoff": ("resolved",),
}


@dataclass(frozen=True)
class Transition:
    action: str
    from_status: str
    to_status: str
    reason: str


def next_status(status: str, action: str, *, disposition: str | None = None, assignee: str | None = None,
                note: str | None = None) -> Transition:
    """The transition `action` makes from `status`; raises IncidentError naming what is allowed instead."""
    if status not in STATUSES:
        raise IncidentError(f"unknown incident status {status!r}; known: {list(STATUSES)}")
    if action not in ACTIONS:
        raise IncidentError(f"unknown incident action {action!r}; known: {list(ACTIONS)}")
    if status in FINAL:
        raise IncidentError(f"the incident is {status}: it is closed and takes no more actions")
    if action == "assign" and not (assignee or "").strip():
        raise IncidentError(f"assign: an assignee is required (got {assignee!r})")
    if action in ("resolve", "signoff") and not (note or "").strip():
        raise IncidentError(f"{action}: a note is required: what was the cause and what was done (got {note!r})")
    if action == "signoff":
        if disposition not in DISPOSITIONS:
            raise IncidentError(f"signoff: disposition must be one of {list(DISPOSITIONS)} (got {disposition!r})")
        if disposition == "false_positive":
            # A false alarm can be closed at any point: there is nothing to resolve.
            return Transition(action, status, "false_positive", "signed off as a false positive")
    allowed = _FROM[action]
    if status not in allowed:
        hint = {"resolve": "acknowledge it first (mq incidents ack)",
                "signoff": "resolve it first, or sign it off with --disposition false_positive"}.get(action, "")
        raise IncidentError(f"{action}: not allowed while the incident is {status} (allowed from "
                            f"{', '.join(allowed)}){'; ' + hint if hint else ''}")
    to = {"ack": "acknowledged", "assign": "investigating", "resolve": "resolved", "signoff": "signed_off"}[action]
    reason = {"ack": "acknowledged", "assign": f"assigned to {assignee}", "resolve": "resolved",
              "signoff": f"signed off as {disposition}"}[action]
    return Transition(action, status, to, reason)
