"""The alert book's state for one run, held in memory: what the lifecycle's steps read.

Loaded in bulk once per run (`alerting.storage.load_state`): the silences, the decisions of the run's
fingerprints over the last `STREAK_DAYS`, their incidents and every firing incident (threads are shared
across fingerprints), and the values recorded for the run's partitions. Each decision's changes are
applied here as it is made, so the next alert of the run sees them; the storage layer writes the same
changes afterwards.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from alerting.alert import Alert
from alerting.route import Destination
from alerting.silences import Silence

ONE_DAY = dt.timedelta(days=1)
STREAK_DAYS = 60   # how far back hysteresis counts consecutive decisions


@dataclass(frozen=True)
class Change:
    """The writes one decision implies; the storage layer applies them together or not at all."""
    decision: dict | None = None                       # the mq_alert_decisions row it claims
    values_insert: dict | None = None                  # what the alert said for the partition
    values_update: tuple[tuple, dict] | None = None    # ((fingerprint, partition, receiver), new values)
    incident_insert: dict | None = None
    incident_update: tuple[str, dict] | None = None    # (incident id, new values)


@dataclass
class RunState:
    partition: dt.date
    candidates: list[Alert]
    silences: list[Silence]
    decided: dict[tuple[str, str], dict[dt.date, str]]     # (fingerprint, receiver) -> partition -> decision
    incidents: dict[str, dict]                              # id -> mq_alerts row, in store order
    values: dict[tuple[str, dt.date, str], dict]            # (fingerprint, partition, receiver) -> row
    inhibit_rules: tuple = ()
    flap_max_incidents: int = 3
    flap_window_days: int = 14
    changes: list[Change] = field(default_factory=list)

    # ---- reads ----------------------------------------------------------------------
    def decision_on(self, fp: str, day: dt.date, receiver: str) -> str | None:
        return self.decided.get((fp, receiver), {}).get(day)

    def streak(self, fp: str, day: dt.date, decision: str, receiver: str) -> int:
        """How many partitions right before `day` this fingerprint got `decision` in a row for `receiver`."""
        rows = self.decided.get((fp, receiver), {})
        count = 0
        while count < STREAK_DAYS and rows.get(day - dt.timedelta(days=count + 1)) == decision:
            count += 1
        return count

    def incident_covering(self, fp: str, day: dt.date, receiver: str) -> dict | None:
        """The receiver's incident this partition belongs to: overlapping or adjacent to a firing one."""
        for inc in self.incidents.values():
            if inc["fingerprint"] != fp or inc["receiver"] != receiver:
                continue
            end = inc["resolved_partition"] - ONE_DAY if inc["resolved_partition"] else None
            if inc["status"] == "firing" and inc["first_partition"] - ONE_DAY <= day:
                return inc
            if end is not None and inc["first_partition"] <= day <= end:
                return inc
        return None

    def recent_incidents(self, fp: str, day: dt.date, receiver: str) -> int:
        """Incidents of the fingerprint for `receiver` that began within the flap window before `day`."""
        since = day - dt.timedelta(days=self.flap_window_days)
        return sum(1 for inc in self.incidents.values() if inc["fingerprint"] == fp
                   and inc["receiver"] == receiver and since <= inc["first_partition"] < day)

    def open_thread(self, dest: Destination, labels: dict[str, str], day: dt.date) -> str | None:
        """The thread of a notified incident of the same group that is firing up to `day` (adjacent or
        on it), oldest first; None when there is none."""
        group = dest.thread_group(labels)
        threads = sorted((inc["thread_key"].rsplit("|", 1)[1], inc["thread_key"])
                         for inc in self.incidents.values()
                         if inc["status"] == "firing" and inc["suppressed"] is None
                         and inc["receiver"] == dest.receiver and inc["thread_key"] is not None
                         and inc["last_partition"] >= day - ONE_DAY and inc["first_partition"] <= day
                         and inc["thread_key"].rsplit("|", 1)[0] == group)
        return threads[0][1] if threads else None

    def thread_firing(self, thread_key: str | None, resolving: set[str]) -> bool:
        """Whether an alert of this thread, other than those resolving now, is still firing."""
        if thread_key is None:
            return False
        return any(inc["thread_key"] == thread_key and inc["status"] == "firing" and inc["id"] not in resolving
                   for inc in self.incidents.values())

    def firing_before(self, partition: dt.date, clean: set[str]) -> list[dict]:
        """Firing incidents of fingerprints evaluated clean now, last breaching before `partition`, by
        fingerprint (then in store order, the order the store's fingerprint index gives)."""
        return sorted((inc for inc in self.incidents.values() if inc["status"] == "firing"
                       and inc["last_partition"] < partition and inc["fingerprint"] in clean),
                      key=lambda inc: inc["fingerprint"])

    def breaching_on(self, partition: dt.date, clean: set[str]) -> list[tuple[str, str]]:
        """(fingerprint, receiver) evaluated clean now that were recorded breaching on this very partition."""
        return sorted((fp, receiver) for (fp, day, receiver), row in self.values.items()
                      if day == partition and row["breaching"] and fp in clean)

    # ---- the run's own changes ------------------------------------------------------
    def apply(self, change: Change) -> None:
        self.changes.append(change)
        if change.decision is not None:
            row = change.decision
            self.decided.setdefault((row["fingerprint"], row["receiver"]), {})[row["partition"]] = row["decision"]
        if change.values_insert is not None:
            row = change.values_insert
            self.values[(row["fingerprint"], row["partition"], row["receiver"])] = dict(row)
        if change.values_update is not None:
            key, new = change.values_update
            self.values[key] = {**self.values[key], **new}
        if change.incident_insert is not None:
            self.incidents[change.incident_insert["id"]] = dict(change.incident_insert)
        if change.incident_update is not None:
            incident, new = change.incident_update
            # A new dict: decisions made earlier keep the incident as it was when they were made.
            self.incidents[incident] = {**self.incidents[incident], **new}
