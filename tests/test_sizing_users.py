"""The sizing report's users section (sizing/users.py): on the small pair of tests/sizing_data.py with
stored user counts of a known miss rate per platform, users.csv holds the users missed per steady-state
day within its interval, next to the events, incident days left out; users_daily.csv has every slice-day's
user capture; the page shows the section. A pair without users gets neither file."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import sizing_data as sd
from core.config import user_metric_names
from sizing.report import write_sizing_report

USERS = {"ios": 400, "android": 600}          # distinct users a day the warehouse sees per platform
MISS = {"ios": 0.02, "android": 0.05}         # share of them the client never logs
INCIDENT = {10: ("android", 0.5), 11: ("android", 0.5)}


def record_users(store, info, seed: int = 3) -> None:
    """Each day's users per platform and total, the missed ones Binomial(users, MISS); on the android
    incident days, half of android's users missed."""
    rng = np.random.default_rng(seed)
    users_metric, missed_metric = user_metric_names(sd.PAIR)
    day, k = info["start"], 0
    while day <= info["end"]:
        rows = []
        missed = {p: int(rng.binomial(n, 0.5 if k in INCIDENT and p == "android" else MISS[p]))
                  for p, n in USERS.items()}
        for key, grouping, labels, n, m in (
                [("(total)", "", {}, sum(USERS.values()), sum(missed.values()))]
                + [(f"platform={p}", "platform", {"platform": p}, USERS[p], missed[p]) for p in USERS]):
            rows += [{"metric": users_metric, "slice_key": key, "grouping": grouping, "labels": labels, "value": n},
                     {"metric": missed_metric, "slice_key": key, "grouping": grouping, "labels": labels, "value": m}]
        store.record_pair_points([users_metric, missed_metric], day, pd.DataFrame(rows))
        day, k = day + dt.timedelta(days=1), k + 1


@pytest.fixture
def pair(stores):
    store, _ = stores
    return store, sd.build(store, incidents=INCIDENT)


def test_users_missed_per_day_hold_the_miss_rate_next_to_the_events(pair, tmp_path):
    store, info = pair
    record_users(store, info)
    page = write_sizing_report(sd.SETTINGS, store, info["start"], info["end"], tmp_path).read_text()
    users = pd.read_csv(tmp_path / "users.csv", keep_default_na=False, na_values=[""]).set_index("slice_key")
    slices = pd.read_csv(tmp_path / "slices.csv", keep_default_na=False, na_values=[""]).set_index("slice_key")
    for platform, n in USERS.items():
        row = users.loc[f"platform={platform}"]
        truth = n * MISS[platform]
        assert row.missed_users_per_day_low <= truth <= row.missed_users_per_day_high, (platform, row.to_dict())
        assert row.missed_users_per_day_high - row.missed_users_per_day_low < truth   # says something
        assert row.user_capture == pytest.approx(1 - MISS[platform], abs=0.01)
    # The android incident days (half its users missed) are left out of android and the total, as for events.
    assert users.loc["platform=android", "steady_days"] == users.loc["(total)", "steady_days"] == 40
    assert users.loc["platform=ios", "steady_days"] == 42
    # Next to the events: the events under-counted per day on the same days are the event table's.
    for key in users.index:
        assert users.loc[key, "per_day"] == pytest.approx(slices.loc[key, "per_day"], abs=0.1)
    daily = pd.read_csv(tmp_path / "users_daily.csv")
    assert len(daily) == 42 * 3
    assert np.allclose(daily.user_capture, 1 - daily.missed_users / daily.warehouse_users, atol=1e-6)
    assert "Users the client missed" in page and "users_daily.csv" in page and "missed_users_per_day" in page


def test_a_pair_without_users_has_no_users_files(pair, tmp_path):
    store, info = pair
    page = write_sizing_report(sd.SETTINGS, store, info["start"], info["end"], tmp_path).read_text()
    assert not (tmp_path / "users.csv").exists() and not (tmp_path / "users_daily.csv").exists()
    assert "names no <code>user_column</code>" in page
