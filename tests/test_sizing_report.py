"""`mq report sizing` on the backfilled demo (conftest's shared backfill): the report's numbers sum back
to the metric store, its steady-state losses hold the demo's known capture rates, its incident days are
the demo's injected incidents, the HTML renders in headless Chromium, and its CSVs match golden files.

Regenerate the golden files after an intended change with `MQ_UPDATE_GOLDEN=1` and review the diff.
"""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from conftest import assert_matches_golden

GOLDEN = Path(__file__).parent / "golden" / "sizing"
GOLDEN_CSVS = ("slices", "pareto", "what_if", "weekly", "rollouts", "completeness")
PAIR = "client_vs_warehouse_events"


@pytest.fixture(scope="module")
def report(worked_demo, tmp_path_factory):
    """(report folder, pipeline, ground truth, period): the CLI's report of the whole backfilled demo."""
    from mq.cli import main

    pipe, truth, _, (start, end) = worked_demo
    out = tmp_path_factory.mktemp("sizing") / "report"
    assert main(["report", "sizing", "--start", start.isoformat(),
                 "--end", end.isoformat(), "--out", str(out)]) == 0
    return out, pipe, truth, (start, end)


def csv(report, name: str) -> pd.DataFrame:
    return pd.read_csv(report[0] / f"{name}.csv", keep_default_na=False, na_values=[""],
                       dtype={"grouping": str, "slice_key": str})


def test_the_report_sums_back_to_the_metric_store(report):
    out, pipe, _, (start, end) = report
    daily, slices = csv(report, "daily"), csv(report, "slices").set_index("slice_key")
    points = pipe.store.points(["client_events", "warehouse_events"], start, end)
    stored = points.pivot_table(index=["slice_key", "partition"], columns="metric", values="value", aggfunc="sum")
    stored.index = stored.index.set_levels([stored.index.levels[0], [str(d) for d in stored.index.levels[1]]])
    rows = daily.set_index(["slice_key", "partition"])
    # Every daily row is the store's point of that slice and day ...
    matched = stored.loc[rows.index]
    assert (matched.client_events.fillna(0).to_numpy() == rows.client.to_numpy()).all()
    assert (matched.warehouse_events.to_numpy() == rows.warehouse.to_numpy()).all()
    # ... and each slice's steady-state totals are its rows on the days not excluded.
    steady = daily[~daily.excluded].groupby("slice_key")[["client", "warehouse"]].sum()
    assert (steady.client == slices.client.loc[steady.index]).all()
    assert (steady.warehouse == slices.warehouse.loc[steady.index]).all()
    lost = daily[daily.excluded].assign(u=lambda f: f.warehouse - f.client).groupby("slice_key").u.sum()
    assert (lost == slices.incident_under_count.loc[lost.index]).all()
    # The breakdown's parts add up to the total's steady-state under-count (each rounded to 0.1 event).
    pareto = csv(report, "pareto")
    assert pareto.under_count.sum() == pytest.approx(slices.loc["(total)", "under_count"], abs=0.1 * len(pareto))


def test_late_vs_lost_sums_back_to_the_metric_store(report):
    """completeness.csv: each slice's D+0 count is the store's `client_events__arrived_d0` points over its
    steady-state days (every demo partition was pulled long after D+7), its final client and warehouse
    counts are slices.csv's, and late + lost is the D+0 under-count."""
    out, pipe, _, (start, end) = report
    late, daily = csv(report, "completeness").set_index("slice_key"), csv(report, "daily")
    slices = csv(report, "slices").set_index("slice_key")
    steady = daily[~daily.excluded]
    d0 = pipe.store.points(["client_events__arrived_d0"], start, end)
    d0 = d0.assign(partition=d0.partition.astype(str)).set_index(["slice_key", "partition"]).value
    assert set(late.index) == set(steady.slice_key)
    for key, rows in steady.groupby("slice_key"):
        assert late.loc[key, "client_d0"] == d0.reindex(list(zip(rows.slice_key, rows.partition))).fillna(0).sum()
        assert late.loc[key, "days"] == slices.loc[key, "steady_days"]
    assert (late.client == slices.client.loc[late.index]).all()
    assert (late.warehouse == slices.warehouse.loc[late.index]).all()
    assert (late.late + late.lost - late.under_count_d0).abs().max() <= 0.2
    assert (late.lost == slices.under_count.loc[late.index]).all()
    assert (late.client_d0 < late.client).all()     # the demo's offline batches arrive late on every slice


def test_the_steady_state_loss_per_platform_holds_the_demos_capture_rate(report):
    """The demo captures each platform's events with a known probability (mq.demo.CAPTURE): on the
    steady-state days, the expected under-count is the warehouse count times one minus that rate."""
    from mq.demo import CAPTURE

    slices = csv(report, "slices").set_index("slice_key")
    for platform, capture in CAPTURE.items():
        row = slices.loc[f"platform={platform}"]
        truth = row.warehouse * (1 - capture)
        assert row.under_count_low <= truth <= row.under_count_high, (platform, truth, row.to_dict())


def test_the_demos_incidents_are_sized_apart(report):
    _, _, truth, _ = report
    losses = csv(report, "incident_losses")
    by_id = {i["id"]: i for i in truth["incidents"]}
    loss = by_id["logging-loss"]
    days = pd.date_range(loss["start"], loss["end"]).strftime("%Y-%m-%d")
    hit = losses[losses.slice_key == "platform=android&app_version=10.3"]
    assert set(days) <= set(hit.partition)
    assert (hit[hit.partition.isin(days)].capture < 0.6).all()      # half its events lost
    holiday = by_id["holiday"]["start"]
    assert (losses[losses.partition == holiday].reason.str.startswith("holiday")).all()
    assert set(csv(report, "daily").query("partition == @holiday").excluded) == {True}


def test_the_page_explains_its_method_and_renders_in_headless_chromium(report, tmp_path):
    from test_report_render import CHROMIUM_FLAGS, _ink, _tool

    page = (report[0] / "index.html").read_text()
    assert "How these figures were computed" in page and "circular block bootstrap" in page
    assert "Late vs lost" in page and "late = final client - client(D+0)" in page
    assert page.count("data:image/png;base64,") == 5   # pareto, what-if, trend, rollouts, completeness
    chromium = _tool("chromium", "chromium-browser")
    shot = tmp_path / "sizing.png"
    proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           f"--screenshot={shot}", "--window-size=1280,2000", (report[0] / "index.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.is_file(), f"no screenshot; chromium said: {proc.stderr[-2000:]}"
    inked, colours = _ink(shot)
    assert inked > 0.05 and colours > 20, (inked, colours)


def test_the_demos_versions_all_rolled_out_before_the_period(report):
    """The demo draws every app version from its first day (mq.demo.APP_VERSIONS): each (platform,
    version) slice is listed as rolled out on the first day, with no before and so no change."""
    _, _, _, (start, _) = report
    table = csv(report, "rollouts")
    slices = csv(report, "slices")
    assert sorted(table.parent + "&app_version=" + table.version) == sorted(
        slices[slices.grouping == "platform,app_version"].slice_key)
    assert (table.rollout_day == start.isoformat()).all() and table.before_period.all()
    assert table.change.isna().all() and (table.note == "rolled out before the period: no before").all()


def test_the_weekly_intervals_hold_the_demos_capture_rates(report):
    """Each platform captures with a fixed probability (mq.demo.CAPTURE): its weeks' 95% intervals hold
    it in most weeks (the golden run: 23 of 24)."""
    from mq.demo import CAPTURE

    weekly = csv(report, "weekly")
    platforms = weekly[weekly.grouping == "platform"]
    truth = platforms.slice_key.str.removeprefix("platform=").map(CAPTURE)
    held = (platforms.capture_low <= truth) & (truth <= platforms.capture_high)
    assert len(platforms) == 24 and held.sum() >= 21, held.sum()
    assert (weekly.capture_low < weekly.capture).all() and (weekly.capture < weekly.capture_high).all()


@pytest.mark.parametrize("name", GOLDEN_CSVS)
def test_report_csv_matches_its_golden_file(report, name):
    got = (report[0] / f"{name}.csv").read_text()
    golden = GOLDEN / f"{name}.csv"
    assert_matches_golden(got, golden)


def test_a_given_target_and_an_unknown_pair(report, tmp_path, capsys):
    from mq.cli import main

    _, _, _, (start, end) = report
    args = ["report", "sizing", "--start", start.isoformat(), "--end",
            end.isoformat()]
    assert main([*args, "--out", str(tmp_path / "t"), "--target", "0.99", "--pair", PAIR]) == 0
    what_if = pd.read_csv(tmp_path / "t" / "what_if.csv")
    assert set(what_if.target) == {0.99} and (what_if.capture < 0.99).all()
    assert set(what_if.grouping.dropna()) >= {"platform"}
    assert main([*args, "--out", str(tmp_path / "u"), "--pair", "nope"]) == 2
    assert "unknown pair 'nope'" in capsys.readouterr().err


def test_mq_capture_prints_the_stored_capture_of_each_slice_and_day(report, capsys):
    """`mq capture`: every monitored slice-day's counts are the store's, capture is their ratio, the
    completeness columns are the stored curve over the final client count, the exclusions the report's."""
    import io

    from mq.cli import main

    out, pipe, _, (start, end) = report
    capsys.readouterr()
    assert main(["capture", "--start", start.isoformat(), "--end", end.isoformat(), "--format", "csv"]) == 0
    got = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False, na_values=[""])
    daily = csv(report, "daily")
    merged = got.merge(daily, on=["partition", "slice_key"], suffixes=("", "_report"))
    assert len(merged) == len(got) == len(daily)
    assert (merged.client == merged.client_report).all() and (merged.warehouse == merged.warehouse_report).all()
    assert (merged.excluded == merged.excluded_report).all()
    assert ((merged.capture - merged.client / merged.warehouse).abs() < 1e-5).all()
    d0 = pipe.store.points(["client_events__arrived_d0"], start, end)
    total = d0[d0.slice_key == "(total)"].assign(partition=lambda f: f.partition.astype(str)).set_index("partition")
    rows = got[got.slice_key == "(total)"].set_index("partition")
    assert ((rows.completeness_d0 - total.value.loc[rows.index] / rows.client).abs() < 1e-5).all()
    assert main(["capture", "--start", start.isoformat(), "--end", end.isoformat(), "--slice", "platform=nope"]) == 1
    assert "no stored counts for platform=nope" in capsys.readouterr().err
