"""Stage 4: turn the stored findings of a partition into alerts, decide, and queue notifications.

Findings: missing partitions (freshness), failed expectations, count anomalies, and client/warehouse
discrepancies. Discrepancies carry their root causes and impact (events under- or over-counted by the
side that moved, with an interval), localised on the leaf slices of the pair; count anomalies their
root causes against the metric's own history; failed row-level expectations where the failing rows
concentrate.
"""
from __future__ import annotations

import datetime as dt
import logging

import pandas as pd

from alerting.alert import Alert, fingerprint
from alerting.dispatch import build_notifications
from alerting.recovery import requeue_lost
from metricstore import utcnow
from checks.describe import describe_failure
from mq.faults import crash_point
from mq.stages.explain import explain_pair
from mq.stages.explain_metric import explain_metric

log = logging.getLogger("mq.alert")


def collect_findings(pipe, partition: dt.date) -> tuple[list[Alert], set[str]]:
    """(alert candidates, fingerprints evaluated clean) for one partition."""
    cfg, alerts, clean = pipe.config, [], set()
    for table, spec in cfg.tables.items():
        pull = pipe.store.latest_pull(table, partition)
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
    checks = pipe.store.check_results(partition, partition)
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
                owner = cfg.tables[row.table_name].owner if row.table_name in cfg.tables else None
                alerts.append(Alert(
                    "expectation", row.suite, labels, partition, "warning",
                    describe_failure(row.table_name, e),
                    observed=observed if isinstance(observed, (int, float)) else None, team=owner,
                    table=row.table_name, details={"threshold": e.get("threshold"), "sample": sample[:5],
                                                   "outcome": e},
                    root_causes=tuple(e.get("root_causes") or ())))
    for subject, kind in [(m, "anomaly") for m in cfg.metrics] + [(p, "discrepancy") for p in cfg.pairs]:
        found = pipe.store.detections(subject, partition, partition)
        if found.empty:
            continue
        team = owning_team(cfg, subject, kind)
        anomalies = found[found.status == "anomaly"].drop_duplicates("slice_key")
        for row in found[found.status == "ok"].itertuples():
            if row.slice_key not in set(anomalies.slice_key):
                clean.add(fingerprint(kind, subject, row.labels))
        causes, impact = ((), None)
        if kind == "discrepancy" and not anomalies.empty:
            causes, impact = explain_pair(pipe, subject, partition)
        elif not anomalies.empty:
            causes, impact = explain_metric(pipe, subject, partition)
        streaks = flagged_streaks(pipe, subject, partition, set(anomalies.slice_key))
        for row in anomalies.itertuples():
            severity = "critical" if not row.labels else "warning"
            what = "client/warehouse ratio" if kind == "discrepancy" else "value"
            slice_name = " & ".join(f"{k}={v}" for k, v in row.labels.items()) or "all"
            alerts.append(Alert(
                kind, subject, dict(row.labels), partition, severity,
                f"{subject} {what} on {slice_name} is {row.direction}: {_short(row.observed)} vs expected "
                f"{_short(row.expected)} [{_short(row.lower)}, {_short(row.upper)}] ({row.detector})"
                + drift_note(getattr(row, "drift", None), partition, cfg.alerting)
                + acceptance_note(streaks.get(row.slice_key, 1), cfg.detection.accept_change_after_days),
                observed=row.observed, expected=row.expected, lower=row.lower, upper=row.upper, team=team,
                root_causes=causes, impact=impact))
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


def flagged_streaks(pipe, subject: str, partition: dt.date, keys: set[str]) -> dict[str, int]:
    """Consecutive days, ending at `partition`, on which each slice was flagged (from stored verdicts)."""
    days = pipe.config.detection.accept_change_after_days
    if not keys or days < 2:
        return {}
    past = pipe.store.detections(subject, partition - dt.timedelta(days=days), partition)
    flagged = set(zip(past.loc[past.status == "anomaly", "slice_key"], past.loc[past.status == "anomaly", "partition"]))
    out = {}
    for key in keys:
        streak = 0
        while (key, partition - dt.timedelta(days=streak)) in flagged:
            streak += 1
        out[key] = streak
    return out


def drift_note(drift, partition: dt.date, alerting) -> str:
    """Said in a drift alert: since when, how fast, how far so far and, when that is what makes it
    material (`detectors.runner.decide`), how far at this rate by the end of the drift horizon."""
    if not isinstance(drift, dict) or not drift.get("start"):
        return ""
    events = drift.get("cumulative_effect")
    cost = f"; {abs(events):,.0f} events {'lost' if events < 0 else 'extra'} since then" if events else ""
    if drift.get("slope") is None or drift.get("level") is None:
        return f"; drifting since {drift['start']}{cost}"
    level, slope, horizon = drift["level"], drift["slope"], alerting.drift_horizon_days
    note = f"; {'falling' if slope < 0 else 'rising'} ~{abs(slope):.1%}/day since {drift['start']}: {level:+.1%} so far"
    if abs(level) < alerting.min_relative_effect and horizon:
        ahead = partition + dt.timedelta(days=horizon)
        note += (f", {level + horizon * slope:+.1%} at this rate by {ahead.isoformat()} (alerted on that: "
                 f"under the {alerting.min_relative_effect:.0%} minimum effect so far)")
    return note + cost


def acceptance_note(streak: int, accept_after_days: int) -> str:
    """Said in a multi-day alert: when the change will be taken as the new normal (detectors.baseline)."""
    if accept_after_days < 2 or streak < 2:
        return ""
    if streak >= accept_after_days:
        return f"; flagged {streak} days running: accepted as the new baseline from tomorrow"
    return f"; flagged {streak} days running: becomes the new baseline after {accept_after_days}"


def run_alerting(pipe, partition: dt.date, run_id: str | None = None, *, run_url: str | None = None) -> dict:
    """Decide every candidate of `partition` and queue what it sends, in ONE transaction.

    Decisions, incidents, their ledger records and the outbox rows commit together or not at all, so a
    run killed anywhere in this stage leaves nothing half-done: its re-run decides afresh (issue: a
    decision committed before its outbox row made the re-run call the alert a duplicate, lost for good).
    The transaction holds the ledger's write lock, which also serialises concurrent alert stages.
    `run_url`: the scheduler's page of this run, linked from the notifications."""
    candidates, clean = collect_findings(pipe, partition)
    now = utcnow()
    links = pipe.links(partition, run_url)
    with pipe.ledger.write_transaction() as conn:
        recovered = requeue_lost(conn, pipe.outbox, links)
        alerting = pipe.config.alerting
        decisions = pipe.alerts.bound(conn).process(partition, candidates, clean, alerting.route, now,
                                                    inhibit_rules=alerting.inhibit_rules)
        for d in decisions:
            if d.decision == "duplicate":
                continue
            # One record per receiver (a `continue: true` route decides once for each of them); a
            # correction is a later decision on the same partition: its own record, one per revision.
            receiver = d.destination.receiver if d.destination else d.extra.get("incident", {}).get("receiver")
            key = (f"correction:{d.fingerprint}:{partition.isoformat()}:{receiver}:{d.extra['revision']}"
                   if "revision" in d.extra else f"decision:{d.fingerprint}:{partition.isoformat()}:{receiver}")
            pipe.ledger.append("alert_decision", key, {
                "fingerprint": d.fingerprint, "alert_id": d.alert_id, "decision": d.decision.value, "reason": d.reason,
                "receiver": receiver,
                "kind": d.alert.kind if d.alert else d.extra.get("incident", {}).get("kind"),
                "subject": d.alert.subject if d.alert else d.extra.get("incident", {}).get("subject")},
                partition=partition, conn=conn)
        queued = 0
        for receiver, notification in build_notifications(decisions, links=links, chart=pipe.chart):
            queued += pipe.outbox.enqueue(receiver, notification, conn=conn)
        crash_point("alert.commit")
    counts = pd.Series([d.decision.value for d in decisions], dtype=object).value_counts().to_dict()
    log.info("alert decisions", extra={"mq": {"partition": partition.isoformat(), "decisions": counts,
                                              "queued": queued, "recovered": recovered}})
    return {"candidates": len(candidates), "decisions": counts, "queued": queued,
            **({"recovered": recovered} if recovered else {})}


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)
