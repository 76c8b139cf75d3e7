"""A few cases of the Squeeze B0 benchmark (Li et al., ISSRE 2019): exact root-cause elements."""
from __future__ import annotations

import pandas as pd
import pytest

from rootcause import localize

DIMENSIONS = ["a", "b", "c", "d"]
# One case of several settings: (setting folder, case timestamp), one/two/three causes on layers 1-3.
CASES = [
    ("B_cuboid_layer_1_n_ele_1", 1450910100),
    ("B_cuboid_layer_1_n_ele_3", 1450697700),
    ("B_cuboid_layer_2_n_ele_2", 1450697700),
    ("B_cuboid_layer_2_n_ele_3", 1450910100),
    ("B_cuboid_layer_3_n_ele_3", 1450976700),
]


def canonical(element: str) -> str:
    return "&".join(sorted(element.split("&")))


@pytest.mark.parametrize("setting, timestamp", CASES)
def test_localizes_exactly_the_injected_elements(shared_bench, setting, timestamp):
    folder = shared_bench / "rca" / "squeeze_B0" / setting
    info = pd.read_csv(folder / "injection_info.csv")
    truth = {canonical(e) for e in info.loc[info["timestamp"] == timestamp, "set"].iloc[0].split(";")}
    leaves = pd.read_csv(folder / f"{timestamp}.csv.gz", dtype={dim: str for dim in DIMENSIONS})

    causes = localize(leaves, DIMENSIONS)

    found = {canonical("&".join(f"{k}={v}" for k, v in cause.elements.items())) for cause in causes}
    assert found == truth
    assert sum(cause.share for cause in causes) == pytest.approx(1.0, abs=0.05)
