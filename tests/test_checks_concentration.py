"""Where the failing rows of a row-level expectation concentrate, aggregated in Spark."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from checks.concentration import concentration, failing_counts

DIMS = ["platform", "country", "event_type"]
VALUES = {"platform": ["android", "ios", "web"], "country": ["US", "IN", "BR", "DE"],
          "event_type": ["page_view", "click", "share"]}


def events(seed: int, null_rate) -> pd.DataFrame:
    """~24k events over 36 leaves; user_id is null with probability `null_rate(platform)`."""
    rng = np.random.default_rng(seed)
    leaves = list(itertools.product(*VALUES.values()))
    counts = rng.integers(300, 1100, size=len(leaves))
    rows = [leaf for leaf, n in zip(leaves, counts) for _ in range(n)]
    frame = pd.DataFrame(rows, columns=DIMS)
    frame["event_id"] = [f"e{i}" for i in range(len(frame))]
    null = rng.random(len(frame)) < frame.platform.map(null_rate).to_numpy()
    frame["user_id"] = np.where(null, None, "u" + pd.Series(rng.integers(0, 10**6, len(frame))).astype(str))
    return frame


@pytest.mark.parametrize("seed", [1, 2])
def test_a_null_spike_on_one_platform_names_that_platform(spark, seed):
    frame = events(seed, {"android": 0.25, "ios": 0.005, "web": 0.005}.get)
    df = spark.createDataFrame(frame)

    leaves = failing_counts(df, [("expect_column_values_to_not_be_null", {"column": "user_id"})], DIMS)
    causes = concentration(leaves, DIMS, "failing_0")

    assert int(leaves.rows.sum()) == len(frame) and int(leaves.failing_0.sum()) == int(frame.user_id.isna().sum())
    assert [c["label"] for c in causes] == ["platform=android"]
    assert causes[0]["failing_rate"] == pytest.approx(0.25, abs=0.02)


def test_nulls_spread_evenly_are_all_slices(spark):
    frame = events(3, lambda platform: 0.05)
    df = spark.createDataFrame(frame)

    leaves = failing_counts(df, [("expect_column_values_to_not_be_null", {"column": "user_id"})], DIMS)

    assert [c["label"] for c in concentration(leaves, DIMS, "failing_0")] == ["all slices (table-wide)"]


def test_duplicated_ids_and_values_out_of_set_are_counted_per_leaf(spark):
    frame = events(4, lambda platform: 0.0)
    again = frame[(frame.country == "DE") & (frame.event_type == "share")]      # loaded twice
    frame = pd.concat([frame, again], ignore_index=True)
    frame.loc[frame.index[:7], "platform"] = "ipad"                              # not in the set
    df = spark.createDataFrame(frame)

    leaves = failing_counts(df, [("expect_column_values_to_be_unique", {"column": "event_id"}),
                                 ("expect_column_values_to_be_in_set",
                                  {"column": "platform", "value_set": ["android", "ios", "web"]})], DIMS)

    assert int(leaves.failing_0.sum()) == 2 * len(again)
    assert int(leaves.failing_1.sum()) == 7
    assert [c["label"] for c in concentration(leaves, DIMS, "failing_0")] == ["country=DE & event_type=share"]
