"""Statistical detectors for metric series, and the runner that turns their scores into anomalies.

    from detectors import DetectorSpec, evaluate, evaluate_range, validate_spec, DETECTOR_NAMES

    evaluate(history, at, [DetectorSpec("seasonal_mad"), DetectorSpec("ratio_binomial")],
             holidays=[...], fdr_q=0.05, min_relative_effect=0.0, min_absolute_effect=0.0)

`history` has one row per (series_id, partition) with `value` and, for client/warehouse ratios,
`denominator`; rows after `at` are ignored and a missing partition is a gap. The result has one row
per (series_id, detector): status ("anomaly", "ok", "insufficient_history", "holiday", "missing"),
observed, expected, lower, upper, score, p_value, q_value (Benjamini-Hochberg across every test of
the date: all series and detectors of the call; `detectors.runner.evaluate_subjects` makes the
metrics and pairs of a partition one family) and direction ("up", "down" or None). `evaluate_range` gives exactly what
`evaluate` would give for each date of a range. Every detector reads only the past of the point it
scores; see `detectors.base` for the interface and one module per detector for the method.

`history` may also be an iterable of DataFrames each holding whole series (streamed from storage) or
a Spark DataFrame; `engine="local" | "spark" | "auto"` and `group_series` choose where and how many
series are scored at once (`detectors.runner`). The verdicts are the same either way.
"""
from detectors.runner import evaluate, evaluate_range
from detectors.spec import DETECTOR_NAMES, DetectorSpec, DetectorSpecError, validate_spec

__all__ = ["DETECTOR_NAMES", "DetectorSpec", "DetectorSpecError", "evaluate", "evaluate_range", "validate_spec"]
