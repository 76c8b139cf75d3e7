"""The NAB runner writes NAB's results layout, one causal configuration for every file."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.nab import run as nab_run  # noqa: E402

NAB = Path(__file__).resolve().parents[2] / "shared" / "bench" / "nab"
FILES = ["realKnownCause/ec2_request_latency_system_failure.csv", "realAdExchange/exchange-2_cpc_results.csv"]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    if not (NAB / "labels" / "combined_windows.json").is_file():
        pytest.skip(f"NAB data not found at {NAB} (it lives beside the repo, not in it)")
    windows = {k: v for k, v in nab_run.load_windows(NAB).items() if k in FILES}
    out = tmp_path_factory.mktemp("nab")
    config = nab_run.CONFIGS["mqensemble"]
    return config, out, windows, nab_run.run_config(config, NAB, out, windows)


def test_results_follow_nabs_layout_and_constraints(written):
    config, out, windows, _ = written
    assert re.fullmatch(r"[A-Za-z0-9]+", config.name) and "standard" not in config.name
    for key in FILES:
        category, name = key.split("/")
        result = pd.read_csv(out / config.name / category / f"{config.name}_{name}")
        data = pd.read_csv(NAB / "data" / key)
        assert list(result.columns) == ["timestamp", "value", "anomaly_score", "label"]
        assert result.timestamp.tolist() == data.timestamp.tolist()
        assert result.anomaly_score.between(0, 1).all() and np.isfinite(result.anomaly_score).all()
        assert result.label.sum() > 0


def test_the_known_latency_failures_get_the_highest_scores(written):
    _, _, windows, results = written
    key = "realKnownCause/ec2_request_latency_system_failure.csv"
    frame = results[key]
    top = frame.nlargest(3, "anomaly_score").index
    assert (frame.loc[top, "label"] == 1).all()


def test_every_config_has_a_valid_nab_name():
    for name in nab_run.CONFIGS:
        assert re.fullmatch(r"[A-Za-z0-9]+", name) and "standard" not in name


def test_an_unknown_combine_rule_is_named():
    with pytest.raises(ValueError, match="combine.*'mean'"):
        nab_run.NabConfig("mqbad", (nab_run.ROBUST_Z,), combine="mean")


def test_every_component_builds_including_stream_only_detectors():
    for config in nab_run.CONFIGS.values():
        for component in config.components:
            assert component.build().name == component.spec.name


@pytest.mark.parametrize(
    "rule, winner",
    [("min_p", "one detector at 1e-4"), ("rms", "two detectors at 1e-3")],
)
def test_combine_rules_rank_agreement_against_a_lone_stronger_signal(rule, winner):
    points = {"two detectors at 1e-3": [1e-3, 1e-3], "one detector at 1e-4": [1e-4, 1.0]}
    evidence = nab_run.combine_evidence(np.array(list(points.values())).T, rule)
    assert list(points)[int(np.argmax(evidence))] == winner


def test_min_p_is_the_bonferroni_adjusted_smallest_p_value():
    evidence = nab_run.combine_evidence(np.array([[1e-5, 0.5], [1.0, 0.9]]), "min_p")
    np.testing.assert_allclose(evidence, [5 - np.log10(2), 0.0])


def test_rms_evidence_finds_a_spike_seen_by_two_detectors():
    rng = np.random.default_rng(7)
    values = rng.normal(100, 1, 1500)
    values[1200] += 12
    timestamps = pd.Series(pd.date_range("2024-01-01", periods=values.size, freq="5min"))
    config = nab_run.NabConfig("mqpair", (nab_run.ROBUST_Z, nab_run.SHORT_SHIFT), combine="rms")
    strength = nab_run.evidence(values, timestamps, config)
    assert np.argmax(strength) == 1200 and strength[1200] > 3
