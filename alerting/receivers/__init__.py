"""Receivers: where a rendered notification goes (Slack, a local JSONL file, a generic webhook).

Every receiver has the same interface, so the outbox can drive any of them:

* `deliver(n, thread_ref)` sends one notification. `thread_ref` is what this receiver returned for the
  firing message of the same `thread_key` (None for a firing message, or when it is unknown).
* It returns the reference of what it sent (the Slack `ts`), or None.
* It raises `RetryableDeliveryError` for a passing failure (the outbox retries with backoff) and
  `core.errors.DeliveryError` for one a human must fix (bad token, unknown channel); the message says what.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from alerting.notification import Notification, RetryableDeliveryError
from core.errors import DeliveryError


@runtime_checkable
class Receiver(Protocol):
    name: str

    def deliver(self, n: Notification, thread_ref: str | None) -> str | None: ...


__all__ = ["DeliveryError", "Receiver", "RetryableDeliveryError"]
