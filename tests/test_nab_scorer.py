"""Our NAB scorer reproduces NAB's published scoreboard from the anomaly_score column alone."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.nab.scorer import PROFILES, CostMatrix, load_results, load_windows, score_detector  # noqa: E402


@pytest.fixture(scope="module")
def nab(request) -> Path:
    root = Path(__file__).resolve().parents[2] / "shared" / "bench" / "nab"
    if not (root / "labels" / "combined_windows.json").is_file():
        pytest.skip(f"NAB data not found at {root} (it lives beside the repo, not in it)")
    return root


@pytest.mark.parametrize("detector", ["ARTime", "windowedGaussian"])
def test_published_scores_are_reproduced_from_anomaly_scores_alone(nab, detector):
    windows = load_windows(nab)
    published = json.loads((nab / "results" / "final_results.json").read_text())[detector]
    results = score_detector(load_results(nab / "results" / detector, detector, list(windows)), windows, CostMatrix.load(nab))
    for profile in PROFILES:
        assert results[profile].normalised == pytest.approx(published[profile], abs=0.5), profile


def _constant_results(nab: Path, windows, fill) -> dict[str, pd.DataFrame]:
    frames = {}
    for key, spans in windows.items():
        stamps = pd.read_csv(nab / "data" / key, usecols=["timestamp"])["timestamp"]
        frames[key] = pd.DataFrame({"timestamp": stamps, "anomaly_score": fill(stamps, spans)})
    return frames


def test_null_detector_scores_0_and_perfect_detector_scores_100(nab):
    windows = load_windows(nab)
    costs = CostMatrix.load(nab)
    null = score_detector(_constant_results(nab, windows, lambda ts, spans: np.zeros(len(ts))), windows, costs)

    def first_row_of_each_window(stamps, spans):
        scores = np.zeros(len(stamps))
        for start, _ in spans:
            scores[np.searchsorted(pd.to_datetime(stamps).to_numpy(), np.datetime64(pd.Timestamp(start)))] = 1.0
        return scores

    perfect = score_detector(_constant_results(nab, windows, first_row_of_each_window), windows, costs)
    for profile in PROFILES:
        assert null[profile].normalised == pytest.approx(0.0)
        assert perfect[profile].normalised == pytest.approx(100.0)


def test_late_detections_earn_less_and_false_positives_cost(nab):
    windows = {"realKnownCause/nyc_taxi.csv": load_windows(nab)["realKnownCause/nyc_taxi.csv"]}
    stamps = pd.read_csv(nab / "data" / "realKnownCause" / "nyc_taxi.csv", usecols=["timestamp"])["timestamp"]
    ts = pd.to_datetime(stamps).to_numpy()
    ends = [int(np.searchsorted(ts, np.datetime64(pd.Timestamp(end)), side="right")) - 1 for _, end in windows["realKnownCause/nyc_taxi.csv"]]
    costs = {"standard": CostMatrix.load(nab)["standard"]}

    def run(rows):
        scores = np.zeros(len(ts))
        scores[rows] = 1.0
        frame = {"realKnownCause/nyc_taxi.csv": pd.DataFrame({"timestamp": stamps, "anomaly_score": scores})}
        return score_detector(frame, windows, costs)["standard"].raw

    late = run(ends)  # last row of each window: almost no credit, but no FN either
    assert late == pytest.approx(0.0, abs=0.1)
    with_fp = run(ends + [len(ts) - 1000])
    assert with_fp < late
