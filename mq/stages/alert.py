"""Stage 4: turn the stored findings of a partition into alerts, decide, and queue notifications.

Findings: missing partitions (freshness), failed expectations, count anomalies, and client/warehouse
discrepancies. Discrepancies carry their root causes and impact (events under- or over-counted by the
side that moved, with an interval), localised on the leaf slices of the pair; count anomalies their
root causes against the metric's own history; failed row-level expectations where the failing rows
concentrate.

The stage has two halves, both of small typed inputs (`AlertSettings`, the config's part it needs):
`collect_findings` reads the metric store and returns the partition's alert candidates and the
fingerprints evaluated clean; `alert` decides them with the alert book and queues what they send. The
second writes as it goes, for a reason: the decisions, their ledger entries (`decision_entries`, built
as data) and the outbox rows commit in ONE transaction, so nothing decided is ever lost unsent (see
`alert`). `run_alerting` is the orchestrator's side, on the pipeline's stores.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from alerting.alert import Alert, fingerprint
from alerting.dispatch import build_notifications
from alerting.recovery import requeue_lost
from metricstore import utcnow
from checks.describe import describe_failure
from mq.faults import crash_point
from mq.run import LedgerEntry

log = logging.getLogger("mq.alert")

# (kind, subject, partition) -> (root causes, impact) of a subject's anomalies on a partition
Explain = Callable[[str, str, dt.date], tuple[tuple, dict | None]]


@dataclass(frozen=True)
class AlertSettings:
    """The part of the config the alert stage reads."""
    tables: Mapping[str, Any]                    # name -> its TableSpec (owner, max_dimension_values)
    metrics: tuple[str, ...] = ()                # scored metrics: their anomalies
    pairs: tuple[str, ...] = ()                  # scored pairs: their discrepancies
    teams: Mapping[str, str | None] = field(default_factory=dict)   # subject -> who its alerts belong to
    accept_change_after_days: int = 14
    min_relative_effect: float = 0.0             # a drift below it is said to pass on its projection
    drift_horizon_days: int = 0                  # how far ahead a drift's level is projected
    route: Any = None                            # the routing tree (core.config.RouteSpec)
    inhibit_rules: Sequence = ()

    @classmethod
    def from_config(cls, config) -> "AlertSettings":
        teams = {**{m: owning_team(config, m, "anomaly") for m in config.metrics},
                 **{p: owning_team(config, p, "discrepancy") for p in config.pairs}}
        a = config.alerting
        return cls(tables=dict(config.tables), metrics=tuple(config.metrics), pairs=tuple(config.pairs),
                   teams=teams, accept_change_after_days=config.detection.accept_change_after_days,
                   min_relative_effect=a.min_relative_effect, drift_horizon_days=a.drift_horizon_days,
                   route=a.route, inhibit_rules=tuple(a.inhibit_rules))


@dataclass(frozen=True)
class Alerted:
    """What the stage did for one partition."""
    candidates: int
    decisions: tuple                             # alerting.decision.Decision, as the alert book returned them
    ledger: tuple[LedgerEntry, ...] = ()         # appended in the stage's transaction
    queued: int = 0
    recovered: int = 0                           # notifications of an earlier crashed run queued again

    @property
    def summary(self) -> dict:
        """The run-summary entry."""
        counts = pd.Series([d.decision.value for d in self.decisions], dtype=object).value_counts().to_dict()
        return {"candidates": self.candidates, "decisions": counts, "queued": self.queued,
                **({"recovered": self.recovered} if self.recovered else {})}


def collect_findings(settings: AlertSettings, store, partition: dt.date, *,
                     explain: Explain | None = None) -> tuple[list[Alert], set[str]]:
    """(alert candidates, fingerprints evaluated clean) for one partition, from what `store` holds.

    `explain`: the root causes and impact of a subject's anomalies (none without it)."""
    alerts, clean = [], set()
    for table, spec in settings.tables.items():
        pull = store.latest_pull(table, partition)
        if pull is None:
            continue
        labels = {"table": table}
        if pull["status"] == "missing":
            why = f" ({pull['error']})" if pull.get("error") else ""
            alerts.append(Alert("freshness", table, labels, partition, "critical",
                                f"partition {partition} of {table} is missing or empty{why}", observed=0.0,
                                team=spec.owner, table=table))
        else:
            clean.add(fingerprint("freshness", table, labels))
        # Input that cannot be read is a failed check on that partition, naming the file and why.
        readable = {"table": table, "expectation": "input_readable"}
        if pull["status"] == "error":
            alerts.append(Alert("expectation", table, readable, partition, "critical",
                                f"partition {partition} of {table} could not be read: {pull['error']}",
                                team=spec.owner, table=table, details={"error": pull["error"]}))
        else:
            clean.add(fingerprint("expectation", table, readable))
        found, evaluated = cardinality_findings(table, spec, pull, partition)
        alerts += found
        clean |= evaluated
    checks = store.check_results(partition, partition)
    if not checks.empty:
        latest = checks.sort_values("id").groupby("suite").tail(1)
        for row in latest.itertuples():
            for e in row.result.get("expectations", []):
                labels = {"table": row.table_name, "expectation": e["expectation"]}
                if e.get("column"):
                    labels["column"] = e["column"]
                if e["success"]:
                    clean.add(fingerprint("expectation", row.suite, labels))
                    continue
                sample = e.get("unexpected_sample") or []
                observed = e.get("observed_value")
                owner = settings.tables[row.table_name].owner if row.table_name in settings.tables else None
                alerts.append(Alert(
                    "expectation", row.suite, labels, partition, "warning",
                    describe_failure(row.table_name, e),
                    observed=observed if isinstance(observed, (int, float)) else None, team=owner,
                    table=row.table_name, details={"threshold": e.get("threshold"), "sample": sample[:5],
                                                   "outcome": e},
                    root_causes=tuple(e.get("root_causes") or ())))
    for subject, kind in [(m, "anomaly") for m in settings.metrics] + [(p, "discrepancy") for p in settings.pairs]:
        found = store.detections(subject, partition, partition)
        if found.empty:
            continue
        team = settings.teams.get(subject)
        anomalies = found[found.status == "anomaly"].drop_duplicates("slice_key")
        for row in found[found.status == "ok"].itertuples():
            if row.slice_key not in set(anomalies.slice_key):
                clean.add(fingerprint(kind, subject, row.labels))
        causes, impact = ((), None)
        if explain is not None and not anomalies.empty:
            causes, impact = explain(kind, subject, partition)
        streaks = flagged_streaks(store, subject, partition, set(anomalies.slice_key),
                                  settings.accept_change_after_days)
        for row in anomalies.itertuples():
            severity = "critical" if not row.labels else "warning"
            what = "client/warehouse ratio" if kind == "discrepancy" else "value"
            slice_name = " & ".join(f"{k}={v}" for k, v in row.labels.items()) or "all"
            alerts.append(Alert(
                kind, subject, dict(row.labels), partition, severity,
                f"{subject} {what} on {slice_name} is {row.direction}: {_short(row.observed)} vs expected "
                f"{_short(row.expected)} [{_short(row.lower)}, {_short(row.upper)}] ({row.detector})"
                + drift_note(getattr(row, "drift", None), partition, settings.min_relative_effect,
                             settings.drift_horizon_days)
                + acceptance_note(streaks.get(row.slice_key, 1), settings.accept_change_after_days),
                observed=row.observed, expected=row.expected, lower=row.lower, upper=row.upper, team=team,
                root_causes=causes, impact=impact, began=drift_began(getattr(row, "drift", None), partition)))
    return alerts, clean


def cardinality_findings(table: str, spec, pull: dict, partition: dt.date) -> tuple[list[Alert], set[str]]:
    """The cardinality guard's warnings: a dimension with more values in the partition than
    `tables.<name>.max_dimension_values` kept only its most frequent ones (the rest folded into
    `(other)` by the pull); its owner hears which dimension, how many values and the cap."""
    alerts, clean = [], set()
    for dim, seen in (pull.get("dimension_values") or {}).items():
        labels = {"table": table, "expectation": "dimension_cardinality", "dimension": dim}
        if seen <= spec.max_dimension_values:
            clean.add(fingerprint("expectation", table, labels))
            continue
        cap = spec.max_dimension_values
        alerts.append(Alert("expectation", table, labels, partition, "warning",
                            f"dimension {dim} of {table} had {seen:,} values on {partition}, above the cap of "
                            f"{cap:,} (tables.{table}.max_dimension_values): the {cap:,} most frequent are "
                            f"kept, the rest folded into (other)", observed=float(seen), upper=float(cap),
                            team=spec.owner, table=table, details={"values_seen": seen, "cap": cap}))
    return alerts, clean


def owning_team(cfg, subject: str, kind: str) -> str:
    """Who an anomaly or discrepancy alert belongs to: the metric's (pair's) `team`, else its `owner` when
    set, else the owner of the table it is computed on (the warehouse side's table for a pair)."""
    spec = cfg.pairs[subject] if kind == "discrepancy" else cfg.metrics[subject]
    if spec.team:
        return spec.team
    if "owner" in spec.model_fields_set:
        return spec.owner
    metric = cfg.metrics[spec.warehouse] if kind == "discrepancy" else spec
    return cfg.tables[metric.table].owner


def flagged_streaks(store, subject: str, partition: dt.date, keys: set[str], days: int) -> dict[str, int]:
    """Consecutive days, ending at `partition`, on which each slice was flagged (from stored verdicts),
    counted up to `days` back (`detection.accept_change_after_days`)."""
    if not keys or days < 2:
        return {}
    past = store.detections(subject, partition - dt.timedelta(days=days), partition)
    flagged = set(zip(past.loc[past.status == "anomaly", "slice_key"], past.loc[past.status == "anomaly", "partition"]))
    out = {}
    for key in keys:
        streak = 0
        while (key, partition - dt.timedelta(days=streak)) in flagged:
            streak += 1
        out[key] = streak
    return out


def drift_began(drift, partition: dt.date) -> dt.date | None:
    """A drift finding's estimated onset, when it is before the partition: the incident the alert opens
    covers the days since, which were clean on their own day (a drift is found some days in)."""
    if not isinstance(drift, dict) or not drift.get("start"):
        return None
    start = dt.date.fromisoformat(str(drift["start"])[:10])
    return start if start < partition else None


def drift_note(drift, partition: dt.date, min_relative_effect: float, horizon: int) -> str:
    """Said in a drift alert: since when, how fast, how far so far and, when that is what makes it
    material (`detectors.runner.decide`), how far at this rate by the end of the drift horizon."""
    if not isinstance(drift, dict) or not drift.get("start"):
        return ""
    events = drift.get("cumulative_effect")
    cost = f"; {abs(events):,.0f} events {'lost' if events < 0 else 'extra'} since then" if events else ""
    if drift.get("slope") is None or drift.get("level") is None:
        return f"; drifting since {drift['start']}{cost}"
    level, slope = drift["level"], drift["slope"]
    note = f"; {'falling' if slope < 0 else 'rising'} ~{abs(slope):.1%}/day since {drift['start']}: {level:+.1%} so far"
    if abs(level) < min_relative_effect and horizon:
        ahead = partition + dt.timedelta(days=horizon)
        note += (f", {level + horizon * slope:+.1%} at this rate by {ahead.isoformat()} (alerted on that: "
                 f"under the {min_relative_effect:.0%} minimum effect so far)")
    return note + cost


def acceptance_note(streak: int, accept_after_days: int) -> str:
    """Said in a multi-day alert: when the change will be taken as the new normal (detectors.baseline)."""
    if accept_after_days < 2 or streak < 2:
        return ""
    if streak >= accept_after_days:
        return f"; flagged {streak} days running: accepted as the new baseline from tomorrow"
    return f"; flagged {streak} days running: becomes the new baseline after {accept_after_days}"


def decision_entries(decisions, partition: dt.date) -> list[LedgerEntry]:
    """The ledger entries of a partition's decisions (duplicates have none).

    One per receiver (a `continue: true` route decides once for each of them); a correction is a later
    decision on the same partition: its own record, one per revision."""
    out = []
    for d in decisions:
        if d.decision == "duplicate":
            continue
        incident = d.extra.get("incident", {})
        receiver = d.destination.receiver if d.destination else incident.get("receiver")
        key = (f"correction:{d.fingerprint}:{partition.isoformat()}:{receiver}:{d.extra['revision']}"
               if "revision" in d.extra else f"decision:{d.fingerprint}:{partition.isoformat()}:{receiver}")
        out.append(LedgerEntry("alert_decision", key, {
            "fingerprint": d.fingerprint, "alert_id": d.alert_id, "decision": d.decision.value, "reason": d.reason,
            "receiver": receiver,
            "kind": d.alert.kind if d.alert else incident.get("kind"),
            "subject": d.alert.subject if d.alert else incident.get("subject")}, partition))
    return out


def alert(settings: AlertSettings, book, outbox, ledger, partition: dt.date, candidates: list[Alert],
          clean: set[str], *, now: dt.datetime, links: dict[str, str] | None = None,
          chart: Callable | None = None) -> Alerted:
    """Decide every candidate of `partition` and queue what it sends, in ONE transaction.

    Decisions, incidents, their ledger records and the outbox rows commit together or not at all, so a
    run killed anywhere in this stage leaves nothing half-done: its re-run decides afresh (issue: a
    decision committed before its outbox row made the re-run call the alert a duplicate, lost for good).
    That is why this stage writes itself rather than returning its writes: the alert book's decisions
    are claimed in the same transaction that queues their notifications. The transaction holds the
    ledger's write lock, which also serialises concurrent alert stages.
    `book`: the alert book (`alerting.lifecycle.AlertBook`); `links`: a notification's links;
    `chart(alert)`: its chart (png bytes or None)."""
    with ledger.write_transaction() as conn:
        recovered = requeue_lost(conn, outbox, links)
        decisions = book.bound(conn).process(partition, candidates, clean, settings.route, now,
                                             inhibit_rules=settings.inhibit_rules)
        entries = decision_entries(decisions, partition)
        for e in entries:
            e.append_to(ledger, conn)
        queued = 0
        for receiver, notification in build_notifications(decisions, links=links, chart=chart):
            queued += outbox.enqueue(receiver, notification, conn=conn)
        crash_point("alert.commit")
    return Alerted(len(candidates), tuple(decisions), tuple(entries), queued, recovered)


def run_alerting(pipe, partition: dt.date, run_id: str | None = None, *, run_url: str | None = None) -> dict:
    """The alert stage on the pipeline's stores: findings (with their root causes), decisions and their
    notifications for `partition`. `run_url`: the scheduler's page of this run, linked from the
    notifications. Returns the run-summary entry."""
    settings = AlertSettings.from_config(pipe.config)
    candidates, clean = collect_findings(settings, pipe.store, partition, explain=pipeline_explain(pipe))
    done = alert(settings, pipe.alerts, pipe.outbox, pipe.ledger, partition, candidates, clean, now=utcnow(),
                 links=pipe.links(partition, run_url), chart=pipe.chart)
    log.info("alert decisions", extra={"mq": {"partition": partition.isoformat(),
                                              "decisions": done.summary["decisions"], "queued": done.queued,
                                              "recovered": done.recovered}})
    return done.summary


def pipeline_explain(pipe) -> Explain:
    """Root causes on the pipeline's metric store: a pair's leaves against their expected client
    count (`explain_pair`), a metric's against its own history (`explain_metric`)."""
    from mq.stages.explain import ExplainSettings, explain_pair
    from mq.stages.explain_metric import explain_metric

    settings = ExplainSettings.from_config(pipe.config)

    def explain(kind: str, subject: str, partition: dt.date):
        if kind == "discrepancy":
            return explain_pair(settings, pipe.store, subject, partition)
        return explain_metric(settings, pipe.store, subject, partition)
    return explain


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)
