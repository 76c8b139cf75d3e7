"""Statistical detectors for metric series, and the runner that turns their scores into anomalies.

    from detectors import DetectorSpec, evaluate, evaluate_range, validate_spec, DETECTOR_NAMES
"""
from detectors.runner import evaluate, evaluate_range
from detectors.spec import DETECTOR_NAMES, DetectorSpec, DetectorSpecError, validate_spec

__all__ = ["DETECTOR_NAMES", "DetectorSpec", "DetectorSpecError", "evaluate", "evaluate_range", "validate_spec"]
