"""What the alert lifecycle can decide about an alert on a partition for a receiver: a closed set.

Every decision, suppressions included, is stored in `mq_alert_decisions` and the ledger with its reason;
README's "Alert decisions" table lists each member.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from alerting.alert import Alert
from alerting.route import Destination


class Outcome(StrEnum):
    NOTIFY = "notify"                          # a new incident: a firing message
    JOIN = "join"                              # a new slice joins a firing incident's thread: a reply
    REPEAT = "repeat"                          # still firing after `repeat_interval_days`: a reply
    RESOLVE = "resolve"                        # clean again: a "resolved" reply
    CORRECT = "correct"                        # late data restated a decided partition: a correction reply
    DUPLICATE = "duplicate"                    # already decided (re-run, backfill, concurrent run)
    CONTINUING = "continuing"                  # part of a firing incident, nothing new to say
    SILENCED = "silenced"                      # a person's silence matches it
    INHIBITED = "inhibited"                    # an inhibition rule's source alert fires beside it
    PENDING = "pending"                        # hysteresis: not yet `fire_after_runs` breaches in a row
    FLAPPING = "flapping"                      # too many incidents of it in the flap window
    CLEAN = "clean"                            # clean, but not yet `resolve_after_runs` clean runs in a row
    RESOLVED_QUIETLY = "resolved_quietly"      # resolved, never notified or `send_resolved: false`
    RESOLVED_IN_THREAD = "resolved_in_thread"  # resolved while others of its thread still fire
    CORRECTED_QUIETLY = "corrected_quietly"    # restated, but it was never notified

    @property
    def sends(self) -> bool:
        return self in SENDING


SENDING = frozenset({Outcome.NOTIFY, Outcome.JOIN, Outcome.REPEAT, Outcome.RESOLVE, Outcome.CORRECT})


@dataclass(frozen=True)
class Verdict:
    """What a step decided and why, with what the decision refers to (an incident, a thread)."""
    outcome: Outcome
    reason: str
    incident: dict | None = None     # the incident the decision extends, resolves or corrects
    thread_key: str | None = None
    first_partition: dt.date | None = None   # a new incident's first breach (hysteresis counts back)
    extra: dict = field(default_factory=dict)


@dataclass
class Decision:
    fingerprint: str
    partition: dt.date
    decision: Outcome
    reason: str
    alert: Alert | None = None
    alert_id: str | None = None
    destination: Destination | None = None
    thread_key: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            self.decision = Outcome(self.decision)
        except ValueError:
            raise ValueError(f"{type(self).__name__}.decision must be one of "
                             f"{[o.value for o in Outcome]}, got {self.decision!r}") from None

    @property
    def sends(self) -> bool:
        return self.decision.sends


def notification_key(d: Decision) -> str:
    # A join and a repeat of one thread in one run are a single "still firing" reply; each correction
    # of a partition is its own reply.
    action = "repeat" if d.decision == Outcome.JOIN else d.decision.value
    revision = f"|{d.extra['revision']}" if d.decision == Outcome.CORRECT else ""
    return f"{d.thread_key}|{action}|{d.partition.isoformat()}{revision}"
