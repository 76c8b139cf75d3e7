"""Charts of an alert's series: the observed values with the detector's expected band, from the store.

The band of past days comes from the detector verdicts stored by earlier runs, so the chart shows what
the service expected on each day at the time, not a hindsight fit.
"""
from __future__ import annotations

import datetime as dt


from alerting.chart import render_chart

CHART_DAYS = 42


def series_frame(pipe, subject: str, labels: dict, partition: dt.date):
    """Detector verdicts of one subject and slice over the last CHART_DAYS days (one detector)."""
    from pulls import slice_key

    det = pipe.store.detections(subject, partition - dt.timedelta(days=CHART_DAYS), partition)
    if det.empty:
        return det
    det = det[det.slice_key == slice_key(labels)]
    if det.empty:
        return det
    first = det.detector.iloc[0]
    return det[det.detector == first].sort_values("partition")


def alert_chart(pipe, alert) -> bytes | None:
    if alert.kind not in ("anomaly", "discrepancy"):
        return None
    frame = series_frame(pipe, alert.subject, alert.labels, alert.partition)
    if frame.empty:
        return None
    as_float = lambda col: frame[col].astype(float).to_numpy()  # noqa: E731
    what = "client/warehouse ratio" if alert.kind == "discrepancy" else "value"
    return render_chart(list(frame.partition), as_float("observed"), as_float("expected"), as_float("lower"),
                        as_float("upper"), list(frame.status == "anomaly"),
                        title=f"{alert.subject} {what} — {alert.slice_label}")
