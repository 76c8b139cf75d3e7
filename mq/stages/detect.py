"""Stage 3: run each metric's and each pair's detectors on the monitored slices, causally.

History comes from the metric store (latest version per partition), so the Airflow task, `mq run` and
a backfill all score a partition from exactly the same past. So do the baseline exclusions
(`detectors.baseline`): the stored anomalies of earlier partitions, and the days the subject's tables
failed a check or were missing, never feed a baseline. A change accepted as the new baseline is
recorded in the ledger.

`detect` is the stage itself: small typed inputs (`DetectSettings`, the config's part it needs; the
metric store and the ledger it reads; a Spark session, asked for only when the detection engine scores
in Spark) and its results as data (`Detections`: the verdict rows, the run-summary entry, the ledger
entries). It writes nothing; `run_detections`, the orchestrator's side, writes what it returns.
All metrics and pairs of a partition are tested as one false-discovery family, since the partition's
alerts go out as one message (`detectors.runner.evaluate_subjects`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from detectors import DetectorSpec
from detectors.baseline import ancestors
from detectors.runner import Subject as ScoredSubject, choose_engine, evaluate_subjects, held_days
from incidents.book import BASELINE_KIND
from mq.run import LedgerEntry

# Verdict facts the ledger records (not columns of mq_detections).
BASELINE_COLUMNS = ("baseline_since", "accepted_today", "drift_start", "cumulative_effect", "drift_level",
                    "drift_slope")


@dataclass(frozen=True)
class Subject:
    """What is scored: a metric, or a pair (its client metric's count over its warehouse metric's)."""
    name: str
    detectors: tuple  # of mq.config.DetectorRef
    metric: str                       # the metric, or the pair's client metric
    warehouse: str | None = None      # the pair's warehouse metric (the ratio's denominator)
    tables: frozenset[str] = frozenset()   # whose failed checks and missing pulls keep days out of baselines
    controls: tuple[str, ...] = ()    # SOX controls its ledger records evidence


@dataclass(frozen=True)
class DetectSettings:
    """The part of the config the detect stage reads."""
    subjects: tuple[Subject, ...]
    groupings: Mapping[str, tuple[str, ...]]   # per metric: the stored `grouping` of each monitored slice
    # The rest come from the config (`from_config`), whose specs hold the defaults (core.config).
    history_days: int
    fdr_q: float
    min_relative_effect: float
    min_absolute_effect: float
    drift_horizon_days: int
    hierarchy_wobble_z: float
    engine: str
    group_series: int
    spark_min_rows: int
    accept_change_after_days: int
    holidays: frozenset[dt.date] = frozenset()

    @classmethod
    def from_config(cls, config) -> "DetectSettings":
        subjects = [Subject(m, tuple(spec.detectors), m, tables=frozenset(subject_tables(config, m)),
                            controls=_controls(m, spec.sox)) for m, spec in config.metrics.items()]
        subjects += [Subject(p, tuple(spec.detectors), spec.client, spec.warehouse,
                             tables=frozenset(subject_tables(config, p)),
                             controls=_controls(p, spec.sox)) for p, spec in config.pairs.items()]
        a, d = config.alerting, config.detection
        return cls(subjects=tuple(subjects),
                   groupings={m: tuple(monitored_groupings(config, m)) for m in config.metrics},
                   history_days=a.history_days, fdr_q=a.fdr_q, min_relative_effect=a.min_relative_effect,
                   min_absolute_effect=a.min_absolute_effect, drift_horizon_days=a.drift_horizon_days,
                   hierarchy_wobble_z=a.hierarchy_wobble_z,
                   engine=d.engine, group_series=d.group_series, spark_min_rows=d.spark_min_rows,
                   accept_change_after_days=d.accept_change_after_days,
                   holidays=frozenset(config.holidays))

    def subject(self, name: str) -> Subject:
        for s in self.subjects:
            if s.name == name:
                return s
        raise KeyError(f"detect: unknown subject {name!r}; subjects: {[s.name for s in self.subjects]}")


@dataclass(frozen=True)
class Detections:
    """What the stage found for one partition, for the orchestrator to write."""
    summary: dict[str, dict]                                  # subject -> status counts, anomalies (run summary)
    rows: dict[str, list[dict]] = field(default_factory=dict)    # subject -> its mq_detections rows
    ledger: tuple[LedgerEntry, ...] = ()                      # in the order they are appended


def _controls(subject: str, sox: bool) -> tuple[str, ...]:
    """The control a subject's detector records evidence (`Pipeline.controls_for_subject`)."""
    return (f"detect:{subject}",) if sox else ()


def monitored_groupings(config, metric: str) -> list[str]:
    """The `grouping` names (as stored) of the configured slices this metric is alerted on."""
    dims = config.metric_dimensions(metric)
    return [",".join(d for d in dims if d in s) for s in config.slices if set(s) <= set(dims)]


def subject_tables(config, subject: str) -> set[str]:
    if subject in config.pairs:
        pair = config.pairs[subject]
        return {config.metrics[pair.client].table, config.metrics[pair.warehouse].table}
    return {config.metrics[subject].table}


def metric_history(settings: DetectSettings, store, metric: str, partition: dt.date) -> pd.DataFrame:
    start = partition - dt.timedelta(days=settings.history_days)
    return store.points([metric], start, partition, groupings=list(settings.groupings[metric]))


def subject_history(settings: DetectSettings, store, subject: Subject, partition: dt.date) -> pd.DataFrame:
    """The subject's monitored slices over its history window; a pair's with the warehouse count as denominator."""
    client = metric_history(settings, store, subject.metric, partition)
    if subject.warehouse is None:
        return client
    return join_pair(client, metric_history(settings, store, subject.warehouse, partition))


def join_pair(client: pd.DataFrame, warehouse: pd.DataFrame) -> pd.DataFrame:
    """Client and warehouse points of the same slices and days: the client count is the value and the
    warehouse count its denominator."""
    merged = client.merge(warehouse, on=["slice_key", "partition"], suffixes=("", "_w"))
    return merged.assign(denominator=merged["value_w"])[["slice_key", "partition", "labels", "value", "denominator"]]


def detect(settings: DetectSettings, store, ledger, partition: dt.date, run_id: str | None = None, *,
           spark: Callable[[], Any] | None = None) -> Detections:
    """Score every subject for `partition`; reads `store` and `ledger`, writes nothing.

    `spark`: returns the Spark session, called only when the engine scores in Spark."""
    summary, rows, entries = {}, {}, []
    subjects = []
    for subject in settings.subjects:
        hist = subject_history(settings, store, subject, partition)
        if subject.detectors and not hist.empty:
            subjects.append((subject, hist, past_flags(settings, store, ledger, subject, hist, partition)))
    # One false-discovery family for the partition: every metric's and pair's tests together, since the
    # partition's alerts go out as one message.
    scored = score_subjects(settings, partition, [(s.name, hist, s.detectors, baseline)
                                                  for s, hist, baseline in subjects], spark=spark)
    for subject, hist, _ in subjects:
        verdicts = scored[subject.name]
        accepted = verdicts.loc[verdicts.accepted_today.astype(bool)]
        found = [{**{k: _clean(v) for k, v in r.items() if k not in ("series_id", "partition", *BASELINE_COLUMNS)},
                  "slice_key": r["series_id"], "run_id": run_id, "drift": drift_evidence(r)}
                 for r in verdicts.to_dict("records")]
        labels = dict(zip(hist.slice_key, hist.labels))
        for r in found:
            r["labels"] = labels.get(r["slice_key"], {})
        rows[subject.name] = found
        counts = verdicts.status.value_counts().to_dict()
        anomalies = sorted(verdicts.loc[verdicts.status == "anomaly", "series_id"].unique().tolist())
        digest = hashlib.sha256(json.dumps([counts, anomalies], sort_keys=True).encode()).hexdigest()
        payload = {"subject": subject.name, "detectors": [d.name for d in subject.detectors],
                   "status_counts": counts, "anomalies": anomalies, "controls": list(subject.controls)}
        drifts = verdicts.loc[(verdicts.status == "anomaly") & verdicts.drift_start.notna()]
        if len(drifts):   # a drift's start and cumulative effect (events) are part of the evidence
            payload["drifts"] = [{"slice_key": r["series_id"], "detector": r["detector"], **drift_evidence(r)}
                                 for r in drifts.to_dict("records")]
        entries.append(LedgerEntry("detector", f"detect:{subject.name}:{partition.isoformat()}:{digest[:16]}",
                                   payload, partition))
        summary[subject.name] = {"status_counts": counts, "anomalies": len(anomalies)}
        if len(accepted):
            entries.append(accepted_change_entry(settings, subject.name, partition, accepted))
    return Detections(summary, rows, tuple(entries))


def run_detections(pipe, partition: dt.date, run_id: str | None = None) -> dict:
    """The detect stage on the pipeline's stores, its results written: rows to the metric store, then the
    ledger entries. Returns the run-summary entry."""
    found = detect(DetectSettings.from_config(pipe.config), pipe.store, pipe.ledger, partition, run_id,
                   spark=lambda: pipe.spark)
    write_detections(pipe.store, pipe.ledger, partition, found)
    return found.summary


def write_detections(store, ledger, partition: dt.date, found: Detections) -> None:
    for subject, rows in found.rows.items():
        store.save_detections(subject, partition, rows)
    for e in found.ledger:
        e.append_to(ledger)


def score(settings: DetectSettings, hist: pd.DataFrame, partition: dt.date, detector_refs, *,
          baseline: dict | None = None, spark: Callable[[], Any] | None = None) -> pd.DataFrame:
    """Verdicts of `detector_refs` on `hist` for `partition`, tested alone (its own false-discovery family);
    `baseline`: what `past_flags` keeps out."""
    return score_subjects(settings, partition, [("subject", hist, detector_refs, baseline or {})],
                          spark=spark)["subject"]


def score_subjects(settings: DetectSettings, partition: dt.date, subjects, *,
                   spark: Callable[[], Any] | None = None) -> dict[str, pd.DataFrame]:
    """name -> verdicts for `partition` of each (name, history, detector refs, baseline), tested together
    as one false-discovery family."""
    prepared = {}
    for name, hist, detector_refs, baseline in subjects:
        frame = hist.rename(columns={"slice_key": "series_id"})
        cols = ["series_id", "partition", "value"] + (["denominator"] if "denominator" in frame else [])
        frame = frame[cols]
        if choose_engine(frame, settings.engine, settings.spark_min_rows) == "spark":
            if spark is None:
                raise ValueError("detect: the detection engine chose Spark for this history, but no Spark "
                                 "session was given")
            frame = spark().createDataFrame(frame)  # the pipeline's configured session
        prepared[name] = ScoredSubject(frame, [DetectorSpec(d.name, dict(d.params)) for d in detector_refs],
                                       **baseline)
    return evaluate_subjects(prepared, partition, partition, holidays=set(settings.holidays),
                             fdr_q=settings.fdr_q, min_relative_effect=settings.min_relative_effect,
                             min_absolute_effect=settings.min_absolute_effect,
                             drift_horizon_days=settings.drift_horizon_days, engine=settings.engine,
                             group_series=settings.group_series,
                             spark_min_rows=settings.spark_min_rows,
                             accept_after_days=settings.accept_change_after_days or None,
                             wobble_z=settings.hierarchy_wobble_z)


def past_flags(settings: DetectSettings, store, ledger, subject: Subject, hist: pd.DataFrame,
               partition: dt.date) -> dict:
    """What keeps past days out of this subject's baselines: its stored anomalies before `partition`
    (and a drift finding's days since its onset), the days its tables failed a check or were
    missing, and which slices roll up into which."""
    start = partition - dt.timedelta(days=settings.history_days)
    before = partition - dt.timedelta(days=1)
    found = store.detections(subject.name, start, before, status="anomaly")   # all that flags or holds a day
    flagged = found.loc[found.status == "anomaly", ["slice_key", "partition"]].rename(
        columns={"slice_key": "series_id"})
    # A found drift's days before it was found, from the onset stored with each drift finding.
    starts = [d.get("start") if isinstance(d, dict) else None for d in found["drift"]]
    held = held_days(pd.DataFrame({"series_id": found["slice_key"], "partition": found["partition"],
                                   "status": found["status"], "drift_start": starts}))
    tables = subject.tables
    checks = store.check_results(start, before)
    bad = set(checks.loc[checks.table_name.isin(tables) & ~checks.success.astype(bool), "partition"])
    bad |= set(store.unreplaced_bad_pulls(tables, start, before).partition)
    labels = dict(zip(hist.slice_key, hist.labels))
    return {"flagged": flagged, "excluded_days": sorted(bad), "parents": ancestors(labels),
            "accepted": accepted_changes(ledger, subject.name, start, before), "held": held}


def accepted_changes(ledger, subject: str, start: dt.date, before: dt.date) -> pd.DataFrame:
    """Changes accepted as the new baseline by a disposition (`mq incidents resolve --accept-change`)
    whose covered flags fall in the window: series_id, since, until (the latest acceptance of a slice wins)."""
    rows = [(x["slice_key"], dt.date.fromisoformat(x["baseline_since"]), dt.date.fromisoformat(x["until"]))
            for r in ledger.records(kind=BASELINE_KIND, start=start, end=before)
            if r.payload.get("subject") == subject and r.payload.get("incident_id")
            for x in r.payload.get("accepted", ()) if "until" in x]
    frame = pd.DataFrame(rows, columns=["series_id", "since", "until"])
    return frame.drop_duplicates("series_id", keep="last")


def accepted_change_entry(settings: DetectSettings, subject: str, partition: dt.date,
                          accepted: pd.DataFrame) -> LedgerEntry:
    """A lasting change becomes the baseline: which slices, since when, and why."""
    changes = sorted({(r.series_id, str(r.baseline_since)) for r in accepted.itertuples()})
    days = settings.accept_change_after_days
    return LedgerEntry(BASELINE_KIND, f"baseline:{subject}:{partition.isoformat()}", {
        "subject": subject, "reason": f"flagged on {days} consecutive days: accepted as the new baseline",
        "accepted": [{"slice_key": k, "baseline_since": since} for k, since in changes]}, partition)


def drift_evidence(row: dict) -> dict | None:
    """A drift anomaly's onset, cumulative effect (events) and, from a ramp chart, its level so far and
    slope per day (relative to the expected value); None for any other row."""
    if row.get("status") != "anomaly" or row.get("drift_start") is None or pd.isna(row.get("drift_start")):
        return None
    out = {"start": str(row["drift_start"]), "cumulative_effect": round(float(row["cumulative_effect"]), 1)}
    level, slope = row.get("drift_level"), row.get("drift_slope")
    if level is not None and math.isfinite(level) and slope is not None and math.isfinite(slope):
        out.update(level=round(float(level), 5), slope=round(float(slope), 6))
    return out


def _clean(value):
    if isinstance(value, float) and value != value:  # NaN -> NULL
        return None
    return value
