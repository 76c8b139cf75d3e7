"""The demo generator's late arrival (mq.demo: `received_at`, `arrival_days`): every client row says when
it reached the backend, never before its event and at most MAX_ARRIVAL_DAYS after its event day, and
the share of each network's rows present by the end of D+k is the truth incidents.json records."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy.stats import binom

from mq.demo import ARRIVAL_TRUTH_LAGS, MAX_ARRIVAL_DAYS, DemoSpec, generate


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("arrival_demo")
    truth = generate(out, DemoSpec(days=56, daily_events=1500, countries=2, event_types=2, seed=5))
    rows = pq.read_table(out / "client_events").to_pandas()
    rows["lag"] = (rows.received_at.dt.normalize() - pd.to_datetime(rows.ds.astype(str))).dt.days
    return rows, truth


def test_a_row_arrives_after_its_event_and_at_most_ten_days_after_its_day(small):
    rows, truth = small
    assert len(rows) == truth["rows"]["client_events"]
    assert (rows.received_at >= rows.event_ts).all()
    assert rows.lag.between(0, MAX_ARRIVAL_DAYS).all()
    # offline batches are the late ones; wifi is nearly all there the same day
    same_day = rows.groupby("network").lag.apply(lambda lag: (lag == 0).mean())
    assert same_day["wifi"] > 0.98 and same_day["offline_batched"] < 0.6


def test_each_networks_completeness_is_the_truth_of_incidents_json(small):
    """Per network and lag, the rows present by the end of D+k hold the count the cells' true
    completeness predicts, within a 99.9% binomial allowance."""
    rows, truth = small
    cells = pd.DataFrame(truth["arrival"])
    keys = ["platform", "app_version", "network"]
    n = rows.groupby(keys).size().rename("n").reset_index().merge(cells, on=keys)
    for network, group in n.groupby("network"):
        total = int(group.n.sum())
        for k in ARRIVAL_TRUTH_LAGS:
            p = float((group.n * group[f"d{k}"]).sum() / total)
            seen = int((rows[rows.network == network].lag <= k).sum())
            lo, hi = binom.ppf(0.0005, total, p), binom.ppf(0.9995, total, p)
            assert lo <= seen <= hi, (network, k, seen, total * p)
    old = cells.set_index(keys).loc[("android", "10.0", "offline_batched")]
    new = cells.set_index(keys).loc[("android", "10.4", "offline_batched")]
    assert old.d0 < new.d0 and old.d7 < new.d7 <= 1     # old versions flush their queue later
    assert np.isclose(cells.set_index(keys).loc[("web", "web", "wifi")].d7, 1, atol=1e-4)
