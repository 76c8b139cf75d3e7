"""Stage 6: drain the outbox to the receivers (`alerting.outbox.Outbox.drain`).

`deliver` is the stage: small typed inputs (`DeliverSettings`, the receivers the config declares; the
outbox) and what it did returned as data (`Delivery`). It writes as it goes, for a reason: each item is
claimed, sent and marked delivered (or scheduled for a retry, or failed for good) one at a time in the
outbox, so a drain killed mid-way never sends a delivered message twice nor loses a pending one, and
a re-run sends only what is still due. Nothing here goes to the ledger: each decision to notify was
recorded by the alert stage.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Delivery attempts per drain; what is left stays queued for the next one.
MAX_ATTEMPTS = 100


@dataclass(frozen=True)
class DeliverSettings:
    """The part of the config the deliver stage reads: its receivers, by name."""
    receivers: Mapping[str, Any]          # name -> a receiver (`alerting.notification.Receiver`)
    max_attempts: int = MAX_ATTEMPTS

    @classmethod
    def from_config(cls, config) -> "DeliverSettings":
        from mq.receivers import build_receivers

        return cls(build_receivers(config))


@dataclass(frozen=True)
class Delivery:
    """What one drain did."""
    delivered: int
    retried: int                  # failed for now, queued again with a backoff
    failed_permanent: int         # failed for good (its receiver is skipped for the rest of the drain)
    pending: int                  # still queued after the drain

    @property
    def summary(self) -> dict:
        """The run-summary entry."""
        return {"delivered": self.delivered, "retried": self.retried,
                "failed_permanent": self.failed_permanent, "pending": self.pending}


def deliver(settings: DeliverSettings, outbox, *, now: dt.datetime | None = None) -> Delivery:
    """Send what is due in `outbox`, oldest first; items for receivers not configured stay queued."""
    s = outbox.drain(settings.receivers, now=now, max_attempts_per_call=settings.max_attempts)
    return Delivery(s.delivered, s.retried, s.failed_permanent, s.pending)


def run_delivery(pipe, now: dt.datetime | None = None) -> Delivery:
    """The deliver stage on the pipeline's outbox and the configured receivers."""
    return deliver(DeliverSettings(pipe.receivers()), pipe.outbox, now=now)
