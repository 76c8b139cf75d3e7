"""Detector specs: parse and validate `DetectorSpec(name, params)` before any data is touched."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from core.errors import MqError

from detectors.base import Detector
from detectors.changepoint import Changepoint
from detectors.cusum import Cusum
from detectors.holt_winters import HoltWinters
from detectors.ratio_binomial import RatioBinomial
from detectors.ratio_drift import RatioDrift
from detectors.seasonal_mad import SeasonalMad

REGISTRY: Mapping[str, type[Detector]] = MappingProxyType(
    {cls.name: cls for cls in (SeasonalMad, RatioBinomial, RatioDrift, Cusum, HoltWinters, Changepoint)}
)
DETECTOR_NAMES: tuple[str, ...] = tuple(REGISTRY)


class DetectorSpecError(MqError, ValueError):
    """A detector spec names an unknown detector or a bad parameter."""


@dataclass(frozen=True)
class DetectorSpec:
    """Which detector to run and with which parameters, e.g. DetectorSpec("seasonal_mad", {"window_weeks": 6})."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Keep a private copy so a caller mutating their dict later can't change this spec.
        object.__setattr__(self, "params", dict(self.params))

    def build(self) -> Detector:
        return build_detector(self.name, self.params)


def validate_spec(name: str, params: Mapping[str, Any]) -> None:
    """Raise `DetectorSpecError` (a ValueError) naming the bad detector or parameter and the valid ones."""
    build_detector(name, params)


def build_detector(name: str, params: Mapping[str, Any]) -> Detector:
    if name not in REGISTRY:
        raise DetectorSpecError(f"unknown detector {name!r}; valid detectors: {list(DETECTOR_NAMES)}")
    if not isinstance(params, Mapping):
        raise DetectorSpecError(f"detector {name!r}: params must be a mapping (got {params!r})")
    cls = REGISTRY[name]
    try:
        return cls(cls.Params.from_mapping(name, params))
    except ValueError as err:
        raise DetectorSpecError(str(err)) from None
