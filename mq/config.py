"""The configuration specs live in `core.config`; this module keeps `mq.config` working and plugs the
detector registry's check into them (a detector name or parameter in the file is checked on load)."""
from __future__ import annotations

from core import config as _core_config
from core.config import (  # noqa: F401
    AlertingSpec, CalendarSpec, CertificationSpec, Config, DetectionSpec, DetectorRef, Holiday, Identifier,
    InhibitRuleSpec, MetricSpec,
    PairSpec, ReceiverSpec, RouteSpec, SparkSpec, StateStoreSpec, TableSpec, default_inhibit_rules, load_config)


def _check_detector(name: str, params: dict) -> None:
    from detectors import validate_spec   # imported on first use: loading `detectors` takes seconds

    validate_spec(name, params)


def _detector_lookback(name: str, params: dict) -> int:
    from detectors.spec import build_detector
    from detectors.scoring import DAILY_SEASON

    return build_detector(name, params).lookback(DAILY_SEASON)


_core_config.set_detector_check(_check_detector, _detector_lookback)
