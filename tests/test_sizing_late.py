"""Late vs lost (sizing/lateness.py) on the small pair of tests/sizing_data.py with a completeness curve
recorded as the pull records it (a partition pulled before its D+7 ended has no D+7 point, so it
counts only once a re-pull after D+7 stored one),
late + lost is the under-count read at D+0, completeness holds the injected arrival rate, and a pair
whose client table has no curve says so instead of splitting anything."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import pytest

import sizing_data as sd
from sizing import read_counts
from sizing.lateness import late_vs_lost, read_arrivals

LAGS = (0, 1, 7)
ON_TIME = 0.9           # share of the client's events there by the end of D+0; the rest by D+1
DAYS, UNSETTLED = 28, 5   # the last 5 partitions were pulled before their D+7 ended
SETTINGS = dataclasses.replace(sd.SETTINGS, client_table="client", arrival_lags=LAGS)


@pytest.fixture
def late_pair(stores):
    store, _ = stores
    info = sd.build(store, days=DAYS, seed=3)
    leaves = store.points([sd.CLIENT], info["start"], info["end"], groupings=[",".join(sd.DIMS)])
    rng = np.random.default_rng(4)
    for day, frame in leaves.groupby("partition"):
        day = pd.Timestamp(day).date()
        final = {tuple(lab[d] for d in sd.DIMS): int(v) for lab, v in zip(frame.labels, frame.value)}
        d0 = {leaf: int(rng.binomial(n, ON_TIME)) for leaf, n in final.items()}
        settled = (day - info["start"]).days < DAYS - UNSETTLED
        points = pd.concat([sd.slice_points(final, sd.CLIENT), sd.slice_points(d0, f"{sd.CLIENT}__arrived_d0"),
                            sd.slice_points(final, f"{sd.CLIENT}__arrived_d1"),
                            *([sd.slice_points(final, f"{sd.CLIENT}__arrived_d7")] if settled else [])])
        store.record_pull({"table_name": "client", "partition": day, "status": "ok",
                           "content_hash": hashlib.sha256(repr(sorted(d0.items())).encode()).hexdigest(),
                           "row_count": sum(final.values())}, points)
    return store, info


def test_late_plus_lost_is_the_d0_under_count_on_settled_days_only(late_pair):
    store, info = late_pair
    counts = read_counts(SETTINGS, store, info["start"], info["end"])
    table = late_vs_lost(counts, read_arrivals(counts, store)).set_index("slice_key")
    assert (table.days == DAYS - UNSETTLED).all() and (table.unsettled_days == UNSETTLED).all()
    settled = counts.slices[counts.slices.partition < info["start"] + dt.timedelta(days=DAYS - UNSETTLED)]
    sums = settled.groupby("slice_key")[["client", "warehouse"]].sum()
    assert (table.client == sums.client.loc[table.index]).all()
    assert (table.warehouse == sums.warehouse.loc[table.index]).all()
    assert (table.late + table.lost == table.under_count_d0).all()
    assert (table.lost == table.warehouse - table.client).all() and (table.late_by_d7 == table.late).all()
    for key in ("(total)", "platform=ios", "platform=android"):
        row = table.loc[key]
        assert row.completeness_d0_low <= ON_TIME <= row.completeness_d0_high, row
        assert row.completeness_d1 == row.completeness_d7 == 1.0
        assert row.late_low <= row.client * (1 - ON_TIME) <= row.late_high, row
    # android loses more than ios but is as late: the split tells the two apart
    assert table.loc["platform=android", "lost"] / table.loc["platform=android", "warehouse"] > \
        table.loc["platform=ios", "lost"] / table.loc["platform=ios", "warehouse"] + 0.02


def test_a_pair_without_a_completeness_curve_says_it_is_not_computed(stores, tmp_path):
    from sizing.report import write_sizing_report

    store, _ = stores
    info = sd.build(store, days=21)
    page = write_sizing_report(sd.SETTINGS, store, info["start"], info["end"], tmp_path / "r").read_text()
    assert "Late vs lost" in page and "completeness_curve</code> is not configured" in page
    assert "Late vs lost: not computed" in page
    assert pd.read_csv(tmp_path / "r" / "completeness.csv").empty
