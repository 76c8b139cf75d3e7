"""Stage 3: run each metric's and each pair's detectors on the monitored slices, causally.

History comes from the metric store (latest version per partition), so the Airflow task, `mq run` and
a backfill all score a partition from exactly the same past.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json

import pandas as pd

from detectors import DetectorSpec, evaluate
from detectors.runner import choose_engine


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
    for subject, hist, detector_refs in subjects:
        if not detector_refs or hist.empty:
            continue
        verdicts = score(pipe, hist, partition, detector_refs)
        rows = [{**{k: _clean(v) for k, v in r.items() if k not in ("series_id", "partition")},
                 "slice_key": r["series_id"], "run_id": run_id} for r in verdicts.to_dict("records")]
        labels = dict(zip(hist.slice_key, hist.labels))
        for r in rows:
            r["labels"] = labels.get(r["slice_key"], {})
        pipe.store.save_detections(subject, partition, rows)
        counts = verdicts.status.value_counts().to_dict()
        anomalies = sorted(verdicts.loc[verdicts.status == "anomaly", "series_id"].unique().tolist())
        digest = hashlib.sha256(json.dumps([counts, anomalies], sort_keys=True).encode()).hexdigest()
        pipe.ledger.append("detector", f"detect:{subject}:{partition.isoformat()}:{digest[:16]}", {
            "subject": subject, "detectors": [d.name for d in detector_refs], "status_counts": counts,
            "anomalies": anomalies, "controls": pipe.controls_for_subject(subject)}, partition=partition)
        summary[subject] = {"status_counts": counts, "anomalies": len(anomalies)}
    return summary


def score(pipe, hist: pd.DataFrame, partition: dt.date, detector_refs) -> pd.DataFrame:
    a, detection = pipe.config.alerting, pipe.config.detection
    frame = hist.rename(columns={"slice_key": "series_id"})
    cols = ["series_id", "partition", "value"] + (["denominator"] if "denominator" in frame else [])
    frame = frame[cols]
    if choose_engine(frame, detection.engine, detection.spark_min_rows) == "spark":
        frame = pipe.spark.createDataFrame(frame)  # the pipeline's configured session
    return evaluate(frame, partition, [DetectorSpec(d.name, dict(d.params)) for d in detector_refs],
                    holidays=pipe.config.holidays, fdr_q=a.fdr_q,
                    min_relative_effect=a.min_relative_effect, min_absolute_effect=a.min_absolute_effect,
                    engine=detection.engine, group_series=detection.group_series,
                    spark_min_rows=detection.spark_min_rows)


def _clean(value):
    if isinstance(value, float) and value != value:  # NaN -> NULL
        return None
    return value
