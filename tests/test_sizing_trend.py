"""The sizing report's weekly trend interval and its before/after comparison of app-version rollouts, on a
small pair whose platforms each roll out a new version on day 21 (tests/sizing_rollout.py): android's
new version captures 5 points less, ios's the same; every day's capture also wobbles beyond binomial
thinning, as real captures do."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

import sizing_rollout as sr
from conftest import PAIR_CONFIG, config_from_yaml
from sizing import SizingSettings, read_counts

INCIDENT = {25: ("android", "5.1", 0.5)}    # one day of android 5.1 losing half its events, in the after window
ROLLOUT = sr.START + dt.timedelta(days=sr.ROLLOUT_DAY)


@pytest.fixture
def history(stores):
    store, _ = stores
    info = sr.build(store, incidents=INCIDENT)
    return read_counts(sr.SETTINGS, store, info["start"], info["end"]), info["days"]


def leaf_days(days, slice_key: str):
    """The generator's leaf-days of one monitored slice."""
    labels = dict(part.split("=") for part in slice_key.split("&")) if slice_key != "(total)" else {}
    mask = days.day.notna()
    for dim, value in labels.items():
        mask &= days[dim] == value
    return days[mask]


def test_the_weekly_interval_holds_the_true_weekly_capture_in_most_weeks(history):
    from sizing.whatif import weekly_trend

    counts, days = history
    weekly = weekly_trend(counts)
    steady = counts.slices[~counts.slices.excluded]
    covered = []
    for row in weekly.itertuples():
        mine = leaf_days(days, row.slice_key)
        in_week = steady[(steady.slice_key == row.slice_key) & (steady.partition >= row.week)
                         & (steady.partition < row.week + dt.timedelta(days=7))].partition
        truth = sr.true_capture(mine[mine.day.isin(set(in_week))])
        covered.append(row.capture_low <= truth <= row.capture_high)
        assert row.capture_low < row.capture < row.capture_high
        assert row.under_count_low == pytest.approx(row.warehouse * (1 - row.capture_high))
        assert row.under_count_high == pytest.approx(row.warehouse * (1 - row.capture_low))
    assert len(covered) == 36
    # A 95% interval: on seeds 100-129 it held the truth in 94% of slice-weeks (at least 30 of 36 a seed);
    # binomial thinning alone (no dispersion) in 63%, here in 25 of 36 weeks.
    assert sum(covered) >= 31, sum(covered)
    # The interval still says something: android's weeks are told apart before and after its rollout.
    android = weekly[weekly.slice_key == "platform=android"].set_index("week")
    first, last = android.iloc[0], android.iloc[-1]
    assert last.capture_high < first.capture_low


def test_a_version_that_captures_worse_shows_the_drop_and_one_that_captures_alike_shows_none(history):
    from sizing.rollout import rollouts

    counts, days = history
    table = rollouts(counts).set_index("version")
    assert list(table.index) == ["5.0", "5.1", "7.0", "7.1"]
    for version, platform in (("5.1", "android"), ("7.1", "ios")):
        row = table.loc[version]
        assert (row.parent, row.rollout_day, bool(row.before_period)) == (f"platform={platform}", ROLLOUT, False)
        mine = leaf_days(days, f"platform={platform}")
        before = mine[(mine.day >= ROLLOUT - dt.timedelta(days=14)) & (mine.day < ROLLOUT)]
        after = mine[(mine.day >= ROLLOUT) & (mine.day < ROLLOUT + dt.timedelta(days=14))]
        if platform == "android":           # the incident day is not steady state
            after = after[after.day != sr.START + dt.timedelta(days=25)]
        truth = sr.true_capture(after) - sr.true_capture(before)
        assert row.change_low <= truth <= row.change_high, (version, truth, row.to_dict())
        per_day = counts.slices[(counts.slices.slice_key == row.parent)
                                & counts.slices.partition.isin(set(after.day))].warehouse.sum() / len(set(after.day))
        assert row.per_day == pytest.approx(-row.change * per_day)
    android, ios = table.loc["5.1"], table.loc["7.1"]
    assert (android.before_days, android.after_days) == (14, 13)
    assert android.change_high < 0 and android.per_day_low > 0          # a drop, told apart from none
    assert android.version_capture_after == pytest.approx(sr.NEW["android"][1], abs=0.01)
    assert ios.change_low < 0 < ios.change_high                         # no change: 0 within the interval
    # The versions there from the first day rolled out before the period: no before, no change.
    for old in ("5.0", "7.0"):
        row = table.loc[old]
        assert bool(row.before_period) and row.before_days == 0 and "no before" in row.note
        assert row.change != row.change                                 # NaN


def test_the_version_dimension_comes_from_the_config_and_is_checked(tmp_path):
    from mq.errors import ConfigError

    text = "version: 1\ndimensions: [platform, app_version]\nslices: [[], [platform, app_version]]\n" + PAIR_CONFIG
    named = text.replace("warehouse: warehouse_events}", "warehouse: warehouse_events, version_dimension: app_version}")
    config = config_from_yaml(tmp_path, named)
    settings = SizingSettings.from_config(config)
    assert settings.version_dimension == "app_version"
    assert settings.groupings == ("", "platform,app_version")
    with pytest.raises(ConfigError, match=r"pairs\.client_vs_warehouse\.version_dimension: 'build' is not a "
                                          r"dimension of metric 'client_events'"):
        config_from_yaml(tmp_path, named.replace("version_dimension: app_version", "version_dimension: build"))
    with pytest.raises(ConfigError, match=r"mq\.yml.*version_dimension: 'app_version' is in no monitored slice set"):
        config_from_yaml(tmp_path, named.replace("slices: [[], [platform, app_version]]", "slices: [[], [platform]]"))


def test_settings_whose_version_dimension_is_not_monitored_are_refused_by_the_report(stores):
    """Settings built in code skip the config's check; the report makes it."""
    from mq.errors import MqError
    from sizing.rollout import rollouts

    store, _ = stores
    info = sr.build(store, days=7)
    settings = dataclasses.replace(sr.SETTINGS, groupings=("", "platform"))
    with pytest.raises(MqError, match=r"pairs\.cw\.version_dimension: 'app_version' is in no monitored slice set"):
        rollouts(read_counts(settings, store, info["start"], info["end"]))
    assert rollouts(read_counts(dataclasses.replace(settings, version_dimension=None), store, info["start"],
                                info["end"])).empty
