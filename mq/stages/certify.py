"""Stage 5: open incidents for the partition's new notified alert groups, then certify (or revoke) each
metric's partition (`status.certify`).

`certify` is the stage's verdict: small typed inputs (`CertifySettings`, the config's part it needs;
the metric store, whose database also holds the alert book and the incidents) and the statuses returned
as data (`Certifications`). It writes nothing. `run_certification`, the orchestrator's side, opens the
incidents first (the verdict names them), then writes the verdict with `status.records.record`, which
compares it with the active certification of each subject: a new one is recorded, a restated or now
failing one revoked, in the store and the ledger, with a notice queued to the subject's route.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from status.certify import PartitionStatus, Subject, certified_subjects, partition_statuses


@dataclass(frozen=True)
class CertifySettings:
    """The part of the config the certify stage reads."""
    subjects: tuple[Subject, ...]
    settle_hours: float = 0.0     # late data is expected until this long after the partition's day ends

    @classmethod
    def from_config(cls, config) -> "CertifySettings":
        return cls(certified_subjects(config), float(config.certification.settle_hours))


@dataclass(frozen=True)
class Certifications:
    """The verdict on each subject's partition, for the orchestrator to record."""
    statuses: tuple[PartitionStatus, ...]

    @property
    def summary(self) -> dict[str, str]:
        """subject -> status (the run-summary entry)."""
        return {s.subject: s.status for s in self.statuses}


def certify(settings: CertifySettings, store, partition: dt.date) -> Certifications:
    """Each subject's status for `partition` from its pulls, checks, detections and covering alerts."""
    return Certifications(tuple(partition_statuses(settings.subjects, store, partition,
                                                   settle_hours=settings.settle_hours)))


def run_certification(pipe, partition: dt.date, now: dt.datetime | None = None) -> dict[str, str]:
    """Open the new incidents, certify the partition, record what changed; returns subject -> status."""
    from core.timeutil import utcnow
    from status.records import record

    pipe.incidents.sync(pipe)
    found = certify(CertifySettings.from_config(pipe.config), pipe.store, partition)
    record(pipe, list(found.statuses), now or utcnow())
    return found.summary
