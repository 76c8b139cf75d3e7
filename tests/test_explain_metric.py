"""Root causes of a count anomaly (one metric against its own history) on seeded synthetic histories."""
from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest

from mq.stages.explain_metric import localize_count

DIMS = ["platform", "country", "event_type"]
VALUES = {"platform": ["android", "ios", "web"], "country": ["US", "IN", "BR", "DE", "JP", "GB"],
          "event_type": ["page_view", "pin_click", "share", "purchase", "signup"]}
WEEKLY = [1.00, 1.03, 1.04, 1.02, 0.97, 0.82, 0.78]
TODAY = dt.date(2026, 9, 22)


def metric_days(seed: int, today_factor) -> pd.DataFrame:
    """29 days of one count metric per leaf; `today_factor(leaves)` multiplies TODAY's expectation."""
    rng = np.random.default_rng(seed)
    leaves = pd.DataFrame(list(itertools.product(*VALUES.values())), columns=DIMS)
    share = rng.dirichlet(np.full(len(leaves), 2.0))
    rows = []
    for back in range(28, -1, -1):
        day = TODAY - dt.timedelta(days=back)
        mean = 50_000 * (1 - 0.0015 * back) * WEEKLY[day.weekday()] * share
        if back == 0:
            mean = mean * today_factor(leaves)
        rows.append(leaves.assign(partition=day, value=rng.poisson(mean).astype(float),
                                  slice_key=leaves.platform + "|" + leaves.country + "|" + leaves.event_type))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_bot_spike_on_one_country_and_event_type_is_localised_there(seed):
    spike = lambda leaves: np.where((leaves.country == "BR") & (leaves.event_type == "pin_click"), 3.0, 1.0)  # noqa: E731
    frame = metric_days(seed, spike)

    causes, impact = localize_count(frame, DIMS, TODAY, set(), metric="warehouse_events")

    assert [c["label"] for c in causes] == ["country=BR & event_type=pin_click"]
    today = frame[frame.partition == TODAY]
    hit = today[(today.country == "BR") & (today.event_type == "pin_click")].value.sum()
    assert impact["direction"] == "over" and impact["lower"] <= hit * 2 / 3 <= impact["upper"]
    assert "more than its history predicts on country=BR & event_type=pin_click" in impact["summary"]


def test_a_uniform_drop_of_the_whole_metric_is_all_slices():
    frame = metric_days(3, lambda leaves: np.full(len(leaves), 0.7))

    causes, impact = localize_count(frame, DIMS, TODAY, set(), metric="client_events")

    assert [c["label"] for c in causes] == ["all slices (table-wide)"]
    assert impact["direction"] == "under" and "(all slices)" in impact["summary"]


def test_an_ordinary_day_has_no_cause():
    frame = metric_days(4, lambda leaves: np.ones(len(leaves)))

    assert localize_count(frame, DIMS, TODAY, set(), metric="client_events") == ((), None)
