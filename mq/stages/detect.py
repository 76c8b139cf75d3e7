"""Stage 3: run each metric's and each pair's detectors on the monitored slices, causally.

History comes from the metric store (latest version per partition), so the Airflow task, `mq run` and
a backfill all score a partition from exactly the same past. So do the baseline exclusions
(`detectors.baseline`): the stored anomalies of earlier partitions, and the days the subject's tables
failed a check or were missing, never feed a baseline. A change accepted as the new baseline is
recorded in the ledger. All metrics and pairs of a partition are tested as one false-discovery
family, since the partition's alerts go out as one message (`detectors.runner`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json

import pandas as pd

from detectors import DetectorSpec
from detectors.baseline import ancestors
from detectors.runner import Subject, choose_engine, evaluate_subjects
from incidents.book import BASELINE_KIND


def monitored_groupings(pipe, metric: str) -> list[str]:
    """The `grouping` names (as stored) of the configured slices this metric is alerted on."""
    dims = pipe.config.metric_dimensions(metric)
    return [",".join(d for d in dims if d in s) for s in pipe.config.slices if set(s) <= set(dims)]


def history(pipe, metric: str, partition: dt.date) -> pd.DataFrame:
    start = partition - dt.timedelta(days=pipe.config.alerting.history_days)
    return pipe.store.points([metric], start, partition, groupings=monitored_groupings(pipe, metric))


def pair_history(pipe, pair_name: str, partition: dt.date) -> pd.DataFrame:
    pair = pipe.config.pairs[pair_name]
    return join_pair(history(pipe, pair.client, partition), history(pipe, pair.warehouse, partition))


def join_pair(client: pd.DataFrame, warehouse: pd.DataFrame) -> pd.DataFrame:
    """Client and warehouse points of the same slices and days: the client count is the value and the
    warehouse count its denominator."""
    merged = client.merge(warehouse, on=["slice_key", "partition"], suffixes=("", "_w"))
    return merged.assign(denominator=merged["value_w"])[["slice_key", "partition", "labels", "value", "denominator"]]


def run_detections(pipe, partition: dt.date, run_id: str | None = None) -> dict:
    summary = {}
    subjects = [(m, history(pipe, m, partition), spec.detectors) for m, spec in pipe.config.metrics.items()]
    subjects += [(p, pair_history(pipe, p, partition), spec.detectors) for p, spec in pipe.config.pairs.items()]
    subjects = [(subject, hist, refs) for subject, hist, refs in subjects if refs and not hist.empty]
    # One false-discovery family for the partition: every metric's and pair's tests together
    # (`detectors.runner`, point 2), since the partition's alerts go out as one message.
    scored = score_subjects(pipe, partition, subjects)
    for subject, hist, detector_refs in subjects:
        verdicts = scored[subject]
        accepted = verdicts.loc[verdicts.accepted_today.astype(bool)]
        rows = [{**{k: _clean(v) for k, v in r.items() if k not in ("series_id", "partition", *BASELINE_COLUMNS)},
                 "slice_key": r["series_id"], "run_id": run_id} for r in verdicts.to_dict("records")]
        labels = dict(zip(hist.slice_key, hist.labels))
        for r in rows:
            r["labels"] = labels.get(r["slice_key"], {})
        pipe.store.save_detections(subject, partition, rows)
        counts = verdicts.status.value_counts().to_dict()
        anomalies = sorted(verdicts.loc[verdicts.status == "anomaly", "series_id"].unique().tolist())
        digest = hashlib.sha256(json.dumps([counts, anomalies], sort_keys=True).encode()).hexdigest()
        payload = {"subject": subject, "detectors": [d.name for d in detector_refs], "status_counts": counts,
                   "anomalies": anomalies, "controls": pipe.controls_for_subject(subject)}
        drifts = verdicts.loc[(verdicts.status == "anomaly") & verdicts.drift_start.notna()]
        if len(drifts):   # a drift's start and cumulative effect (events) are part of the evidence
            payload["drifts"] = [{"slice_key": r.series_id, "detector": r.detector, "start": str(r.drift_start),
                                  "cumulative_effect": round(float(r.cumulative_effect), 1)}
                                 for r in drifts.itertuples()]
        pipe.ledger.append("detector", f"detect:{subject}:{partition.isoformat()}:{digest[:16]}", payload,
                           partition=partition)
        summary[subject] = {"status_counts": counts, "anomalies": len(anomalies)}
        if len(accepted):
            record_accepted_changes(pipe, subject, partition, accepted)
    return summary


# Verdict facts the ledger records (not columns of mq_detections).
BASELINE_COLUMNS = ("baseline_since", "accepted_today", "drift_start", "cumulative_effect")


def score(pipe, hist: pd.DataFrame, partition: dt.date, detector_refs, subject: str | None = None) -> pd.DataFrame:
    """One subject's verdicts for `partition`, tested alone (its own false-discovery family)."""
    return score_subjects(pipe, partition, [(subject, hist, detector_refs)])[subject]


def score_subjects(pipe, partition: dt.date, subjects) -> dict:
    """subject -> verdicts for `partition` of each (subject, history, detector refs), tested together.

    A subject of None is scored without its stored baseline flags."""
    a, detection = pipe.config.alerting, pipe.config.detection
    prepared = {}
    for subject, hist, detector_refs in subjects:
        frame = hist.rename(columns={"slice_key": "series_id"})
        cols = ["series_id", "partition", "value"] + (["denominator"] if "denominator" in frame else [])
        frame = frame[cols]
        baseline = {} if subject is None else past_flags(pipe, subject, hist, partition)
        if choose_engine(frame, detection.engine, detection.spark_min_rows) == "spark":
            frame = pipe.spark.createDataFrame(frame)  # the pipeline's configured session
        prepared[subject] = Subject(frame, [DetectorSpec(d.name, dict(d.params)) for d in detector_refs], **baseline)
    return evaluate_subjects(prepared, partition, partition, holidays=pipe.config.holidays, fdr_q=a.fdr_q,
                             min_relative_effect=a.min_relative_effect, min_absolute_effect=a.min_absolute_effect,
                             engine=detection.engine, group_series=detection.group_series,
                             spark_min_rows=detection.spark_min_rows,
                             accept_after_days=detection.accept_change_after_days or None,
                             wobble_z=a.hierarchy_wobble_z)


def subject_tables(pipe, subject: str) -> set[str]:
    cfg = pipe.config
    if subject in cfg.pairs:
        return {cfg.metrics[cfg.pairs[subject].client].table, cfg.metrics[cfg.pairs[subject].warehouse].table}
    return {cfg.metrics[subject].table}


def past_flags(pipe, subject: str, hist: pd.DataFrame, partition: dt.date) -> dict:
    """What keeps past days out of this subject's baselines: its stored anomalies before `partition`,
    the days its tables failed a check or were missing, and which slices roll up into which."""
    start = partition - dt.timedelta(days=pipe.config.alerting.history_days)
    before = partition - dt.timedelta(days=1)
    found = pipe.store.detections(subject, start, before)
    flagged = found.loc[found.status == "anomaly", ["slice_key", "partition"]].rename(
        columns={"slice_key": "series_id"})
    tables = subject_tables(pipe, subject)
    checks = pipe.store.check_results(start, before)
    pulls = pipe.store.pulls(start, before)
    bad = set(checks.loc[checks.table_name.isin(tables) & ~checks.success.astype(bool), "partition"])
    # A partition pulled missing or in error that a later pull did not replace.
    latest = pulls.sort_values("version").drop_duplicates(["table_name", "partition"], keep="last")
    bad |= set(latest.loc[latest.table_name.isin(tables) & (latest.status != "ok"), "partition"])
    labels = dict(zip(hist.slice_key, hist.labels))
    return {"flagged": flagged, "excluded_days": sorted(bad), "parents": ancestors(labels),
            "accepted": accepted_changes(pipe, subject, start, before)}


def accepted_changes(pipe, subject: str, start: dt.date, before: dt.date) -> pd.DataFrame:
    """Changes accepted as the new baseline by a disposition (`mq incidents resolve --accept-change`)
    whose covered flags fall in the window: series_id, since, until (the latest acceptance of a slice wins)."""
    rows = [(x["slice_key"], dt.date.fromisoformat(x["baseline_since"]), dt.date.fromisoformat(x["until"]))
            for r in pipe.ledger.records(kind=BASELINE_KIND, start=start, end=before)
            if r.payload.get("subject") == subject and r.payload.get("incident_id")
            for x in r.payload.get("accepted", ()) if "until" in x]
    frame = pd.DataFrame(rows, columns=["series_id", "since", "until"])
    return frame.drop_duplicates("series_id", keep="last")


def record_accepted_changes(pipe, subject: str, partition: dt.date, accepted: pd.DataFrame) -> None:
    """A lasting change becomes the baseline: record which slices, since when, and why."""
    changes = sorted({(r.series_id, str(r.baseline_since)) for r in accepted.itertuples()})
    days = pipe.config.detection.accept_change_after_days
    pipe.ledger.append(BASELINE_KIND, f"baseline:{subject}:{partition.isoformat()}", {
        "subject": subject, "reason": f"flagged on {days} consecutive days: accepted as the new baseline",
        "accepted": [{"slice_key": k, "baseline_since": since} for k, since in changes]}, partition=partition)


def _clean(value):
    if isinstance(value, float) and value != value:  # NaN -> NULL
        return None
    return value
