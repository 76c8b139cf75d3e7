"""Stage 5: open incidents for the partition's new notified alert groups, then certify (or revoke) each
metric's partition (`status.certify`).

`certify` is the stage: small typed inputs (`status.certify.CertifySettings`, the config's part it
needs; the metric store, whose database also holds the alert book, the incidents and the
certifications; the ledger, whose revocations number the records) and what it would write returned
as data (`Certifications`): the verdict on each subject, the incidents to open
(`incidents.NewIncident`) and what recording the verdict changes (`status.records.Change`: a
certification, or the revocation of a restated or now failing one with its notices). It writes nothing. `run_certification`, the orchestrator's side,
writes them in that order: the incidents (`IncidentBook.open`; one a concurrent run opened first is
skipped, with its ledger record), then the changes (`status.records.write`).

The verdict does not depend on the incidents being open: it names an incident by its alert group's
id, and only an incident signed off as a false positive changes it (a new one is open).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from incidents import IncidentBook, NewIncident
from incidents.book import LEDGER_KIND as INCIDENT_KIND
from mq.run import LedgerEntry
from status.certify import CertifySettings, PartitionStatus, backdated_partitions, statuses
from status.records import Change, changes


@dataclass(frozen=True)
class Certifications:
    """The verdict on each subject's partition, and what writing it down takes, for the orchestrator."""
    statuses: tuple[PartitionStatus, ...]
    opened: tuple[NewIncident, ...] = ()      # incidents to open (every new notified alert group)
    changes: tuple[Change, ...] = ()          # certifications recorded or revoked, in order

    @property
    def summary(self) -> dict[str, str]:
        """subject -> status (the run-summary entry)."""
        return {s.subject: s.status for s in self.statuses}

    @property
    def ledger(self) -> tuple[LedgerEntry, ...]:
        """The ledger entries, in the order they are appended (an incident's only when it is opened)."""
        return (tuple(LedgerEntry(INCIDENT_KIND, n.key, n.payload, n.first_partition) for n in self.opened)
                + tuple(LedgerEntry(c.kind, c.key, c.payload, c.partition) for c in self.changes))

    @property
    def notifications(self) -> tuple:
        """(receiver, notification) of every revocation, in order."""
        return tuple(n for c in self.changes for n in c.notifications)


def certify(settings: CertifySettings, store, ledger, partition: dt.date, *, now: dt.datetime,
            links: Mapping[str, str] | None = None) -> Certifications:
    """The verdict on `partition`, the incidents to open, and the certifications it records or revokes
    against the active ones (at `now`); `links`: a revocation notice's links. Writes nothing."""
    found = tuple(statuses(settings, store, partition))
    # A drift found today covers the days since its onset: those already certified are decided again.
    earlier = tuple(s for day in backdated_partitions(store.engine, partition) for s in statuses(settings, store, day))
    opened = IncidentBook(store.engine, ledger).to_open(settings.ownership, now)
    todo = changes(store.engine, ledger, earlier + found, now, route=settings.route, links=links)
    return Certifications(found, tuple(opened), tuple(todo))


def run_certification(pipe, partition: dt.date, now: dt.datetime | None = None) -> dict[str, str]:
    """Open the new incidents, certify the partition, record what changed; returns subject -> status."""
    from core.timeutil import utcnow
    from status.records import write

    found = certify(CertifySettings.from_config(pipe.config), pipe.store, pipe.ledger, partition,
                    now=now or utcnow(), links=pipe.links(partition))
    for new in found.opened:
        pipe.incidents.open(new)
    write(pipe.engine, pipe.ledger, pipe.outbox, found.changes)
    return found.summary
