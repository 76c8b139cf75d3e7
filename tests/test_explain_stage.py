"""Root causes as functions of small typed inputs: settings from the config and the points and
detections in a metric store on an in-memory SQLite (what the pulls and the detect stage stored).
A pair's discrepancy is explained on the slice that moved, with the side to blame and its impact;
a day with nothing pulled, or one side missing, says so rather than inventing a cause; a count
anomaly is localised against the metric's own history. No Spark."""
from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest

from conftest import PAIR_CONFIG, config_from_yaml
from mq.stages.explain import ExplainSettings, diagnose_pair, explain_pair
from mq.stages.explain_metric import explain_metric

DAY = dt.date(2026, 9, 30)
HISTORY = 60
PAIR = "client_vs_warehouse"
CONFIG = """
version: 1
dimensions: [platform, country]
""" + PAIR_CONFIG
PLATFORMS, COUNTRIES = ("android", "ios", "web"), ("US", "IN", "BR")
LEAVES = list(itertools.product(PLATFORMS, COUNTRIES))
SHARE = dict(zip(LEAVES, (0.22, 0.08, 0.06, 0.18, 0.07, 0.05, 0.20, 0.09, 0.05)))
CAPTURE = {"android": 0.94, "ios": 0.97, "web": 0.90}


@pytest.fixture
def settings(tmp_path) -> ExplainSettings:
    return ExplainSettings.from_config(config_from_yaml(tmp_path, CONFIG))


@pytest.fixture
def store(stores):
    return stores[0]


def pull(store, table: str, metric: str, day: dt.date, counts: dict | None) -> None:
    """One stored pull of `table` for `day` with its leaf points (None: the partition is missing)."""
    evidence = {"table_name": table, "partition": day, "status": "ok" if counts else "missing",
                "row_count": int(sum((counts or {}).values())),
                "content_hash": f"{table}:{day}:{sorted((counts or {}).items())}", "input_files": []}
    points = None
    if counts:
        points = pd.DataFrame([{"metric": metric, "slice_key": f"country={c},platform={p}",
                                "grouping": "platform,country", "labels": {"platform": p, "country": c},
                                "value": v} for (p, c), v in counts.items()])
    store.record_pull(evidence, points)


def load(store, *, today=None, skip_today: bool = False) -> None:
    """`HISTORY` days of warehouse counts per leaf and the client's share of them; `today(client,
    warehouse)` changes DAY's counts in place; `skip_today`: nothing is pulled for DAY."""
    rng = np.random.default_rng(7)
    for k in range(HISTORY, -1, -1):
        day = DAY - dt.timedelta(days=k)
        if k == 0 and skip_today:
            break
        volume = 50_000 * (1.0 + 0.15 * (day.weekday() >= 5))
        warehouse = {leaf: float(rng.poisson(volume * SHARE[leaf])) for leaf in LEAVES}
        client = {leaf: float(rng.binomial(int(v), CAPTURE[leaf[0]])) for leaf, v in warehouse.items()}
        if k == 0 and today is not None:
            today(client, warehouse)
        pull(store, "warehouse", "warehouse_events", day, warehouse or None)
        pull(store, "client", "client_events", day, client or None)


def flagged(store, subject: str = PAIR, direction: str = "down") -> None:
    """The detect stage's verdict on DAY: the subject's total is an anomaly."""
    store.save_detections(subject, DAY, [{
        "slice_key": "__total__", "detector": "ratio_binomial", "labels": {}, "status": "anomaly",
        "observed": 0.85, "expected": 0.93, "lower": 0.92, "upper": 0.94, "score": 8.0, "direction": direction}])


def android_us_client_loss(client, warehouse):
    client[("android", "US")] = round(client[("android", "US")] * 0.5)


def ios_warehouse_loaded_twice(client, warehouse):
    for c in COUNTRIES:
        warehouse[("ios", c)] *= 2


def test_a_client_loss_is_explained_on_its_slice_and_blamed_on_the_client(settings, store):
    load(store, today=android_us_client_loss)
    flagged(store)
    causes, impact = explain_pair(settings, store, PAIR, DAY)
    assert [c["elements"] for c in causes] == [{"platform": "android", "country": "US"}]
    assert impact["side"] == "client" and impact["direction"] == "under"
    lost = 50_000 * SHARE[("android", "US")] * CAPTURE["android"] * 0.5   # half the slice's client events
    assert abs(impact["events"] + lost) < 0.05 * lost
    assert impact["summary"].startswith("client lost about ")


def test_a_warehouse_double_load_is_blamed_on_the_warehouse_in_its_events(settings, store):
    load(store, today=ios_warehouse_loaded_twice)
    flagged(store, direction="down")
    diagnosis = diagnose_pair(settings, store, PAIR, DAY)
    assert diagnosis.status == "explained"
    assert [c["elements"] for c in diagnosis.causes] == [{"platform": "ios"}]
    assert diagnosis.impact["side"] == "warehouse" and diagnosis.impact["direction"] == "over"
    extra = 50_000 * sum(SHARE[("ios", c)] for c in COUNTRIES)   # the warehouse events counted twice
    assert abs(diagnosis.impact["events"] - extra) < 0.05 * extra
    assert diagnosis.summary.startswith("warehouse over-counted about ")


def test_nothing_pulled_for_the_day_is_no_data_and_no_cause(settings, store):
    load(store, skip_today=True)
    diagnosis = diagnose_pair(settings, store, PAIR, DAY)
    assert diagnosis.status == "no_data"
    assert diagnosis.summary == (f"no data for {PAIR} on {DAY} (was the partition pulled? "
                                 f"try `mq run --date {DAY}`)")
    assert explain_pair(settings, store, PAIR, DAY) == ((), None)


def test_a_missing_warehouse_partition_is_said_rather_than_a_ratio_explained(settings, store):
    load(store, today=lambda client, warehouse: warehouse.clear())
    flagged(store, direction="up")
    diagnosis = diagnose_pair(settings, store, PAIR, DAY)
    assert diagnosis.status == "missing" and diagnosis.causes == ()
    assert diagnosis.summary.startswith(f"the warehouse partition {DAY} is missing or empty (client has ")
    assert diagnosis.totals["warehouse"] == 0


def test_a_day_the_detectors_found_normal_has_no_cause(settings, store):
    load(store)
    store.save_detections(PAIR, DAY, [{"slice_key": "__total__", "detector": "ratio_binomial", "labels": {},
                                       "status": "ok", "observed": 0.93, "expected": 0.93, "lower": 0.92,
                                       "upper": 0.94}])
    diagnosis = diagnose_pair(settings, store, PAIR, DAY)
    assert diagnosis.status == "normal" and diagnosis.causes == ()
    assert diagnosis.summary.startswith("within normal variation (client/warehouse ratio 0.9300")


def test_a_count_spike_is_localised_against_the_metrics_own_history(settings, store):
    def web_bots(client, warehouse):
        client[("web", "BR")] += 6_000
        warehouse[("web", "BR")] += 6_000
    load(store, today=web_bots)
    causes, impact = explain_metric(settings, store, "warehouse_events", DAY)
    assert [c["elements"] for c in causes] == [{"platform": "web", "country": "BR"}]
    assert impact["direction"] == "over" and impact["lower"] <= 6_000 <= impact["upper"]
    assert explain_metric(settings, store, "warehouse_events", DAY + dt.timedelta(days=1)) == ((), None)
