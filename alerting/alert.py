"""The alert: one finding about one subject and slice for one partition, before routing."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

KINDS = ("discrepancy", "anomaly", "expectation", "freshness")
SEVERITIES = ("info", "warning", "critical")


def fingerprint(kind: str, subject: str, labels: dict[str, str]) -> str:
    """Identity of the thing that is wrong, independent of the day: kind, subject and slice."""
    body = json.dumps([kind, subject, sorted((str(k), str(v)) for k, v in labels.items())])
    return hashlib.sha256(body.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Alert:
    kind: str                       # discrepancy | anomaly | expectation | freshness
    subject: str                    # the metric, pair, suite or table it is about
    labels: dict[str, str]          # the slice (platform=android ...) or check identity
    partition: dt.date
    severity: str
    message: str
    observed: float | None = None
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    team: str | None = None
    table: str | None = None
    root_causes: tuple[dict, ...] = ()
    impact: dict | None = None
    details: dict = field(default_factory=dict)
    # The day the change began, when that is before `partition`: a drift is found some days after its
    # onset, and the incident it opens covers the days since (their certifications are revoked).
    began: dt.date | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{type(self).__name__}.kind must be one of {KINDS}, got {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"{type(self).__name__}.severity must be one of {SEVERITIES}, got {self.severity!r}")

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.kind, self.subject, self.labels)

    @property
    def match_labels(self) -> dict[str, str]:
        """Everything routes, silences and inhibition rules can match on."""
        extra = {"kind": self.kind, "metric": self.subject, "severity": self.severity,
                 "partition": self.partition.isoformat()}
        if self.team:
            extra["team"] = self.team
        if self.table:
            extra["table"] = self.table
        return {**{k: str(v) for k, v in self.labels.items()}, **extra}

    @property
    def slice_label(self) -> str:
        return " & ".join(f"{k}={v}" for k, v in self.labels.items()) or "all"
