"""The client-vs-warehouse row-count ratio check and its band."""
from __future__ import annotations

import datetime as dt

import pytest

from checks import ratio_check

DAY = dt.date(2026, 1, 5)


@pytest.mark.parametrize("client, warehouse, success, observed", [
    (9_400, 10_000, True, 0.94),      # healthy: clients lose a few percent
    (9_000, 10_000, True, 0.90),      # the low edge is inside the band
    (9_700, 10_000, True, 0.97),      # and so is the high edge
    (8_700, 10_000, False, 0.87),     # client logging loss in one slice
    (9_400, 12_500, False, 0.752),    # duplicated warehouse load inflates the denominator
    (9_900, 10_000, False, 0.99),     # rows missing from the warehouse
    (9_400, 0, False, None),          # missing warehouse partition is never a pass
])
def test_ratio_band(client, warehouse, success, observed):
    result = ratio_check(client, warehouse, low=0.90, high=0.97, partition=DAY)
    (outcome,) = result.expectations
    assert result.success is success and outcome.success is success
    assert outcome.observed_value == (pytest.approx(observed) if observed is not None else None)
    assert outcome.threshold == {"low": 0.90, "high": 0.97}
    assert (result.suite, result.partition) == ("client_vs_warehouse_row_ratio", DAY)
    assert outcome.unexpected_sample == ([] if success else [{"client_rows": client, "warehouse_rows": warehouse}])


def test_ratio_hash_identifies_the_band():
    a = ratio_check(1, 1, low=0.9, high=0.97, partition=DAY).suite_hash
    assert a == ratio_check(5, 7, low=0.9, high=0.97, partition=DAY).suite_hash
    assert a != ratio_check(1, 1, low=0.9, high=0.98, partition=DAY).suite_hash


@pytest.mark.parametrize("kwargs", [dict(low=0.97, high=0.9), dict(low=-0.1, high=1.0)])
def test_ratio_rejects_a_bad_band(kwargs):
    with pytest.raises(ValueError, match="low"):
        ratio_check(1, 1, partition=DAY, **kwargs)


@pytest.mark.parametrize("client, warehouse", [(-1, 10), (1.5, 10), (True, 10)])
def test_ratio_rejects_bad_counts(client, warehouse):
    with pytest.raises(ValueError, match="client_rows"):
        ratio_check(client, warehouse, low=0.9, high=0.97, partition=DAY)


def test_ratio_counts_dataframes_in_spark(spark):
    client, warehouse = spark.range(93), spark.range(100)
    result = ratio_check(client, warehouse, low=0.90, high=0.97, partition=DAY)
    assert result.success and result.expectations[0].observed_value == pytest.approx(0.93)
