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

from conftest import DEMO_CONFIG, assert_matches_golden

GOLDEN = Path(__file__).parent / "golden" / "sizing"
GOLDEN_CSVS = ("slices", "pareto", "what_if")
PAIR = "client_vs_warehouse_events"


@pytest.fixture(scope="module")
def report(worked_demo, tmp_path_factory):
    """(report folder, pipeline, ground truth, period): the CLI's report of the whole backfilled demo."""
    from mq.cli import main

    pipe, truth, _, (start, end) = worked_demo
    out = tmp_path_factory.mktemp("sizing") / "report"
    assert main(["--config", str(DEMO_CONFIG), "report", "sizing", "--start", start.isoformat(),
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
    assert page.count("data:image/png;base64,") == 3
    chromium = _tool("chromium", "chromium-browser")
    shot = tmp_path / "sizing.png"
    proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           f"--screenshot={shot}", "--window-size=1280,2000", (report[0] / "index.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.is_file(), f"no screenshot; chromium said: {proc.stderr[-2000:]}"
    inked, colours = _ink(shot)
    assert inked > 0.05 and colours > 20, (inked, colours)


@pytest.mark.parametrize("name", GOLDEN_CSVS)
def test_report_csv_matches_its_golden_file(report, name):
    got = (report[0] / f"{name}.csv").read_text()
    golden = GOLDEN / f"{name}.csv"
    assert_matches_golden(got, golden)


def test_a_given_target_and_an_unknown_pair(report, tmp_path, capsys):
    from mq.cli import main

    _, _, _, (start, end) = report
    args = ["--config", str(DEMO_CONFIG), "report", "sizing", "--start", start.isoformat(), "--end",
            end.isoformat()]
    assert main([*args, "--out", str(tmp_path / "t"), "--target", "0.99", "--pair", PAIR]) == 0
    what_if = pd.read_csv(tmp_path / "t" / "what_if.csv")
    assert set(what_if.target) == {0.99} and (what_if.capture < 0.99).all()
    assert set(what_if.grouping.dropna()) >= {"platform"}
    assert main([*args, "--out", str(tmp_path / "u"), "--pair", "nope"]) == 2
    assert "unknown pair 'nope'" in capsys.readouterr().err
