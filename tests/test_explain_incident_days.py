"""Which days a lasting discrepancy spans, read from what the detectors stored (verdicts in the metric
store, drift starts stored with the detections; an in-memory SQLite): the days `mq explain` and the alert judge
each side on."""
from __future__ import annotations

import datetime as dt

import pytest

from conftest import PAIR_CONFIG, config_from_yaml
from mq.stages.explain import ExplainSettings, incident_days

DAY = dt.date(2026, 9, 30)
PAIR = "client_vs_warehouse"
CONFIG = """
version: 1
calendar:
  holidays:
    - {date: 2026-09-28, name: "A holiday"}
dimensions: [platform]
""" + PAIR_CONFIG


@pytest.fixture
def settings(tmp_path) -> ExplainSettings:
    return ExplainSettings.from_config(config_from_yaml(tmp_path, CONFIG))


@pytest.fixture
def store(stores):
    return stores[0]


def flag(store, day: dt.date, direction: str | None, status: str = "anomaly", *, pair: str = PAIR,
         drift: dict | None = None) -> None:
    """A stored verdict of `pair` on `day`; with `drift`, a drift detector's, carrying its evidence."""
    store.save_detections(pair, day, [{
        "slice_key": "platform=ios", "detector": "ratio_drift" if drift else "ratio_binomial",
        "labels": {"platform": "ios"},
        "status": status, "observed": 0.9, "expected": 0.95, "lower": 0.94, "upper": 0.96,
        "score": 5.0, "p_value": 1e-6, "q_value": 1e-5, "direction": direction, "run_id": "r", "drift": drift}])


def days_back(*offsets: int) -> tuple[dt.date, ...]:
    return tuple(DAY - dt.timedelta(days=k) for k in offsets)


def test_a_day_flagged_alone_is_a_one_day_incident(settings, store):
    flag(store, DAY - dt.timedelta(days=3), "down")
    flag(store, DAY - dt.timedelta(days=1), "down", status="ok")
    flag(store, DAY, "down")

    assert incident_days(settings, store, PAIR, DAY) == (DAY,)


def test_a_run_of_days_flagged_the_same_way_is_one_incident_and_a_holiday_does_not_break_it(settings, store):
    for back in (4, 3, 1, 0):            # 2026-09-28 (two days back) is the holiday
        flag(store, DAY - dt.timedelta(days=back), "down")
    flag(store, DAY - dt.timedelta(days=5), "up")

    assert incident_days(settings, store, PAIR, DAY) == days_back(4, 3, 1, 0)


def test_a_timezone_shift_moves_the_ratio_both_ways_and_is_two_incidents(settings, store):
    flag(store, DAY - dt.timedelta(days=1), "up")     # the warehouse partition cut short
    flag(store, DAY, "down")                           # its last hours landed in today's

    assert incident_days(settings, store, PAIR, DAY) == (DAY,)


def test_a_drift_reaches_back_to_the_start_its_detector_recorded(settings, store):
    flag(store, DAY - dt.timedelta(days=1), "down")
    start = DAY - dt.timedelta(days=9)
    flag(store, DAY, "down", drift={"start": start.isoformat(), "cumulative_effect": -812.0})
    flag(store, DAY, "down", pair="other_pair",
         drift={"start": (DAY - dt.timedelta(days=20)).isoformat(), "cumulative_effect": 1.0})

    assert incident_days(settings, store, PAIR, DAY) == days_back(9, 8, 7, 6, 5, 4, 3, 1, 0)
