"""The notification: what one message says, as plain data, before any Slack formatting.

Routing builds a `Notification`; `alerting.blockkit` turns it into Block Kit; a receiver sends it; the
outbox stores it as JSON between the two. Nothing here knows about Slack.
"""
from __future__ import annotations

import base64
import math
import numbers
from dataclasses import dataclass, field, fields
from typing import Any

from core.errors import MqError

ACTIONS = ("firing", "repeat", "resolved", "correction")


class RetryableDeliveryError(MqError):
    """A delivery failed for a passing reason (rate limit, 5xx, timeout): the outbox tries again later.

    `retry_after` is the wait the far side asked for, in seconds. `partial_ref` is set when part of the
    delivery already happened (the Slack parent message was posted but the chart upload failed), so the
    retry finishes the job instead of posting the message twice.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, partial_ref: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.partial_ref = partial_ref


def _number_or_none(owner: str, name: str, value: Any) -> float | None:
    """A plain float (numpy scalars included); NaN means unknown and becomes None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{owner}.{name} must be a number or None (got {value!r})")
    value = float(value)
    return None if math.isnan(value) else value


def _plain(d: dict) -> dict:
    """Numbers as plain int/float so the notification always serialises to JSON."""
    out = {}
    for name, value in d.items():
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            value = int(value)
        elif isinstance(value, numbers.Real):
            value = None if math.isnan(float(value)) else float(value)
        out[name] = value
    return out


@dataclass(frozen=True)
class AlertLine:
    """One alert (one slice of one metric) inside a notification."""

    fingerprint: str
    kind: str
    metric: str
    labels: dict[str, str]
    partition: str
    severity: str
    observed: float | None = None
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    message: str = ""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if not self.fingerprint:
            raise ValueError(f"{owner}.fingerprint must not be empty (got {self.fingerprint!r})")
        if not isinstance(self.labels, dict):
            raise ValueError(f"{owner}.labels must be a dict of str to str (got {self.labels!r})")
        for name in ("observed", "expected", "lower", "upper"):
            object.__setattr__(self, name, _number_or_none(owner, name, getattr(self, name)))

    @property
    def slice_label(self) -> str:
        """`platform=android & app_version=10.0`, or `all` for the unsliced total."""
        return " & ".join(f"{k}={v}" for k, v in sorted(self.labels.items())) or "all"

    @property
    def deviation(self) -> float | None:
        """Relative distance of observed from expected (-0.38 is 38 % under), None when unknown."""
        if self.observed is None or self.expected is None or self.expected == 0:
            return None
        return (self.observed - self.expected) / abs(self.expected)

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"labels": dict(self.labels)}

    @classmethod
    def from_json(cls, d: dict) -> AlertLine:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown keys {unknown}")
        return cls(**d)


@dataclass(frozen=True)
class Notification:
    """One thing to send. `key` makes sending idempotent; `thread_key` groups firing, repeats and resolution."""

    key: str
    thread_key: str
    action: str
    title: str
    severity: str
    kind: str
    metric: str | None
    partition: str
    alerts: tuple[AlertLine, ...]
    impact: dict | None = None
    root_causes: tuple[dict, ...] = ()
    links: dict[str, str] = field(default_factory=dict)
    chart_png: bytes | None = None
    team: str | None = None    # who owns what the message is about (tables' and metrics' owners)

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ("key", "thread_key", "title"):
            if not getattr(self, name):
                raise ValueError(f"{owner}.{name} must not be empty (got {getattr(self, name)!r})")
        if self.action not in ACTIONS:
            raise ValueError(f"{owner}.action must be one of {ACTIONS} (got {self.action!r})")
        alerts = tuple(self.alerts)
        for alert in alerts:
            if not isinstance(alert, AlertLine):
                raise ValueError(f"{owner}.alerts must hold AlertLine items (got {alert!r})")
        object.__setattr__(self, "alerts", alerts)
        object.__setattr__(self, "root_causes", tuple(_plain(rc) for rc in self.root_causes))
        if self.impact is not None:
            object.__setattr__(self, "impact", _plain(self.impact))
            for name, value in self.impact.items():
                if isinstance(value, float) and not math.isfinite(value):
                    raise ValueError(f"{owner}.impact[{name!r}] must be finite (got {value!r})")
        if self.chart_png is not None and not isinstance(self.chart_png, (bytes, bytearray)):
            raise ValueError(f"{owner}.chart_png must be PNG bytes or None (got {type(self.chart_png).__name__})")

    @property
    def is_resolved(self) -> bool:
        return self.action == "resolved"

    def to_json(self) -> dict:
        """A JSON-ready dict; the chart travels as base64 under `chart_png`."""
        return {
            "key": self.key,
            "thread_key": self.thread_key,
            "action": self.action,
            "title": self.title,
            "severity": self.severity,
            "kind": self.kind,
            "metric": self.metric,
            "partition": self.partition,
            "alerts": [a.to_json() for a in self.alerts],
            "impact": dict(self.impact) if self.impact is not None else None,
            "root_causes": [dict(rc) for rc in self.root_causes],
            "links": dict(self.links),
            "team": self.team,
            "chart_png": base64.b64encode(self.chart_png).decode("ascii") if self.chart_png else None,
        }

    @classmethod
    def from_json(cls, d: dict) -> Notification:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown keys {unknown}")
        values = dict(d)
        values["alerts"] = tuple(AlertLine.from_json(a) for a in d.get("alerts", ()))
        values["root_causes"] = tuple(d.get("root_causes") or ())
        values["links"] = dict(d.get("links") or {})
        chart = d.get("chart_png")
        values["chart_png"] = base64.b64decode(chart) if chart else None
        return cls(**values)
