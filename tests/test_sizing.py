"""Sizing the steady-state under-count (sizing/): on a small pair with a known capture rate per platform
(tests/sizing_data.py), the estimates hold the truth within their intervals, incident days are left out
and sized apart, and every figure sums back to the metric store's points."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import sizing_data as sd
from sizing import read_counts, size_slices
from sizing.data import overlaps
from sizing.estimate import incident_losses

INCIDENT = {10: ("android", 0.5), 11: ("android", 0.5)}   # two days of android losing half its events


@pytest.fixture
def pair(stores):
    store, _ = stores
    return store, sd.build(store, incidents=INCIDENT)


def sized(store, info):
    counts = read_counts(sd.SETTINGS, store, info["start"], info["end"])
    return counts, size_slices(counts).set_index("slice_key")


def test_the_steady_state_under_count_holds_the_injected_truth_within_its_interval(pair):
    store, info = pair
    _, table = sized(store, info)
    for key, truth in (("(total)", info["truth"]["(total)"]), ("platform=android", info["truth"]["android"]),
                       ("platform=ios", info["truth"]["ios"])):
        row = table.loc[key]
        assert row.under_count_low <= truth <= row.under_count_high, key
        assert row.under_count_low < row.under_count < row.under_count_high
        # The interval says something: narrower than a tenth of the figure on six weeks of data.
        assert row.under_count_high - row.under_count_low < 0.1 * row.under_count, key
    assert table.loc["platform=android", "capture"] == pytest.approx(sd.CAPTURE["android"], abs=0.005)
    assert table.loc["platform=ios", "pct_of_metric"] == pytest.approx(100 * (1 - sd.CAPTURE["ios"]), abs=0.5)


def test_incident_days_are_left_out_of_the_slices_they_touch_and_sized_apart(pair):
    store, info = pair
    counts, table = sized(store, info)
    hit = {info["start"] + dt.timedelta(days=k) for k in INCIDENT}
    # The android alert keeps its days out of android and of the total (which holds android), not ios.
    assert table.loc["platform=android", "excluded_days"] == table.loc["(total)", "excluded_days"] == 2
    assert table.loc["platform=ios", "excluded_days"] == 0
    losses = incident_losses(counts)
    assert set(losses.partition) == hit and set(losses.slice_key) == {"(total)", "platform=android"}
    assert losses.reason.str.contains("discrepancy alert on cw").all()
    # Half of android's events lost on each of those days: about 0.5 x 1800, sized apart from the steady state.
    android = losses[losses.slice_key == "platform=android"]
    assert (android.capture < 0.6).all()
    assert table.loc["platform=android", "incident_under_count"] == pytest.approx(android.under_count.sum())
    # Left in, those two days would have pushed android's loss rate well above its steady 7%.
    steady = table.loc["platform=android"]
    with_incident = (steady.under_count + steady.incident_under_count) / (
        steady.warehouse + android.warehouse.sum())
    assert with_incident > steady.pct_of_metric / 100 + 0.01


def test_every_figure_sums_back_to_the_metric_store(pair):
    store, info = pair
    counts, table = sized(store, info)
    points = store.points([sd.CLIENT, sd.WAREHOUSE], info["start"], info["end"])
    points["partition"] = pd.to_datetime(points.partition).dt.date
    excluded = set(counts.slices[counts.slices.excluded].apply(lambda r: (r.slice_key, r.partition), axis=1))
    for key, row in table.iterrows():
        mine = points[(points.slice_key == key)]
        steady = mine[[(key, d) not in excluded for d in mine.partition]]
        client = steady[steady.metric == sd.CLIENT].value.sum()
        warehouse = steady[steady.metric == sd.WAREHOUSE].value.sum()
        assert (row.client, row.warehouse) == (client, warehouse), key
        assert row.under_count == warehouse - client
        everything = mine[mine.metric == sd.WAREHOUSE].value.sum() - mine[mine.metric == sd.CLIENT].value.sum()
        assert row.under_count + row.incident_under_count == everything, key


def test_a_table_wide_alert_or_a_holiday_excludes_the_day_everywhere(stores):
    store, _ = stores
    info = sd.build(store, days=21)
    day = info["start"] + dt.timedelta(days=5)
    sd.record_alert(store.engine, "expectation", "client_events_suite", {"expectation": "not_null"}, day, day,
                    table="client")
    holiday = info["start"] + dt.timedelta(days=9)
    settings = sd.SETTINGS.__class__(**{**sd.SETTINGS.__dict__, "holidays": {holiday: "Founders' day"}})
    counts = read_counts(settings, store, info["start"], info["end"])
    off = counts.slices[counts.slices.excluded]
    assert set(off.partition) == {day, holiday}
    assert off.groupby("partition").slice_key.nunique().to_dict() == {day: 3, holiday: 3}
    assert off[off.partition == holiday].reason.eq("holiday: Founders' day").all()


def test_slices_overlap_unless_a_dimension_names_two_values():
    assert overlaps({}, {"platform": "ios"})                                   # the total holds every slice
    assert overlaps({"platform": "ios", "app_version": "1"}, {"platform": "ios"})   # a child
    assert overlaps({"platform": "ios"}, {"country": "FR"})                      # ios users in France
    assert not overlaps({"platform": "ios"}, {"platform": "android", "country": "FR"})


def test_the_breakdown_names_the_country_that_loses_more_and_its_parts_add_up_to_the_total(stores):
    """Brazil captures 15% less on every platform: the localiser names it; overlapping slices (ios and
    Brazil share ios-in-Brazil) never count a leaf twice, so the parts sum to the total's under-count."""
    from sizing.pareto import pareto

    store, _ = stores
    info = sd.build(store, country_factor={"BR": 0.85})
    counts, table = sized(store, info)
    parts = pareto(counts)
    total = table.loc["(total)"]
    assert parts.under_count.sum() == total.under_count
    assert parts.leaves.sum() == len(sd.VOLUME)
    assert parts.cumulative_share.iloc[-1] == pytest.approx(1.0)
    assert list(parts.under_count) == sorted(parts.under_count, reverse=True)
    brazil = parts.set_index("part").loc["country=BR"]
    assert brazil.capture < brazil.typical_capture - 0.05
    assert brazil.under_count_low < brazil.under_count < brazil.under_count_high
    brazil_leaves = counts.leaves[(counts.leaves.country == "BR")]
    assert brazil.under_count == (brazil_leaves.warehouse - brazil_leaves.client).sum()


def test_weeks_add_up_to_the_period(pair):
    from sizing.whatif import weekly_trend

    store, info = pair
    counts, table = sized(store, info)
    weekly = weekly_trend(counts)
    assert set(weekly.week) == {info["start"] + dt.timedelta(weeks=k) for k in range(6)}
    by_slice = weekly.groupby("slice_key")[["under_count", "steady_days"]].sum()
    assert (by_slice.under_count == table.under_count).all()
    assert (by_slice.steady_days == table.steady_days).all()


def test_what_if_android_captured_like_ios_recovers_the_gap_on_its_volume(pair):
    from sizing.whatif import what_if

    store, info = pair
    _, table = sized(store, info)
    ranked = what_if(_counts(store, info)).set_index("slice_key")
    assert list(ranked.index) == ["platform=android"]          # ios is its own best sibling: nothing to recover
    row = ranked.loc["platform=android"]
    assert row.target_from == "platform=ios"
    truth = table.loc["platform=android", "warehouse"] * (sd.CAPTURE["ios"] - sd.CAPTURE["android"])
    assert row.recovered_low <= truth <= row.recovered_high
    assert row.per_day == pytest.approx(row.recovered / row.steady_days)
    total_per_day = table.loc["(total)", "warehouse"] / table.loc["(total)", "steady_days"]
    assert row.pct_of_metric == pytest.approx(100 * row.per_day / total_per_day)


def test_what_if_to_a_given_capture_ranks_every_slice_below_it(pair):
    from sizing.whatif import what_if

    store, info = pair
    ranked = what_if(_counts(store, info), target=0.99)
    assert list(ranked.slice_key) == ["platform=android", "platform=ios"]   # android loses more, and is larger
    assert list(ranked["rank"]) == [1, 2] and (ranked.target_from == "given").all()
    assert what_if(_counts(store, info), target=0.95).slice_key.tolist() == ["platform=android"]


def test_countries_that_capture_alike_recover_nothing_from_the_luckiest_one(stores):
    """Five countries with one capture rate (per platform) still have a best one by chance; after
    shrinkage towards their pool none of them is said to recover anything, while a country that
    really captures 15% less is, by about its true gap."""
    from sizing.whatif import what_if

    store, _ = stores
    by_country = sd.SETTINGS.__class__(**{**sd.SETTINGS.__dict__, "groupings": ("", "platform", "country")})
    alike = sd.build(store, seed=3)
    ranked = what_if(read_counts(by_country, store, alike["start"], alike["end"]))
    assert "country" not in set(ranked.grouping)
    assert list(ranked.slice_key) == ["platform=android"]


def test_a_country_that_loses_more_recovers_its_gap(tmp_path):
    from metricstore import MetricStore
    from sizing.whatif import what_if

    store = MetricStore(f"sqlite:///{tmp_path / 'state.db'}")
    store.install()
    by_country = sd.SETTINGS.__class__(**{**sd.SETTINGS.__dict__, "groupings": ("", "platform", "country")})
    info = sd.build(store, seed=3, country_factor={"BR": 0.85})
    ranked = what_if(read_counts(by_country, store, info["start"], info["end"]))
    countries = ranked[ranked.grouping == "country"].set_index("slice_key")
    assert countries.index[0] == "country=BR"
    brazil = countries.loc["country=BR"]
    # Brazil's recovery is told apart from zero; the others' leftovers (the pool's spread is Brazil's) are not.
    assert brazil.recovered_low > 0
    assert (countries.drop("country=BR").recovered_low == 0).all()
    assert countries.drop("country=BR").recovered.sum() < 0.1 * brazil.recovered
    assert brazil.target - brazil.compared_capture == pytest.approx(0.15 * 0.946, abs=0.02)


def test_a_slices_comparable_siblings_share_all_but_its_last_dimension():
    from sizing.whatif import siblings

    labels = {"a": {"platform": "ios", "app_version": "1"}, "b": {"platform": "ios", "app_version": "2"},
              "c": {"platform": "android", "app_version": "1"}}
    assert siblings(labels, "platform,app_version") == {"a": ["b"], "b": ["a"], "c": []}


def _counts(store, info):
    return read_counts(sd.SETTINGS, store, info["start"], info["end"])
