"""The diagnosis of a client/warehouse discrepancy on seeded synthetic histories: which side moved,
table-wide vs one slice, the impact in the moving side's events, and what is not there."""
from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest

from bench.rca.side_attribution import window as side_window
from mq.stages.explain import diagnose, incident_leaves
from rootcause import forecast_share, localize
from rootcause.side import INTERVAL_Z, attribute_side, pooled_expectation

DIMS = ["platform", "country", "event_type"]
VALUES = {"platform": ["android", "ios", "web"], "country": ["US", "IN", "BR", "DE", "JP", "GB"],
          "event_type": ["page_view", "pin_click", "share", "purchase", "signup"]}
CAPTURE = {"android": 0.935, "ios": 0.965, "web": 0.895}
WEEKLY = [1.00, 1.03, 1.04, 1.02, 0.97, 0.82, 0.78]
TODAY = dt.date(2026, 9, 22)


def history(seed: int, incident=None) -> pd.DataFrame:
    """29 days (28 of history + TODAY) of client and warehouse counts per leaf; `incident(leaves,
    warehouse, client, rng)` changes TODAY's counts in place and returns the true extra/missing events."""
    rng = np.random.default_rng(seed)
    leaves = pd.DataFrame(list(itertools.product(*VALUES.values())), columns=DIMS)
    share = rng.dirichlet(np.full(len(leaves), 2.0))
    capture = leaves.platform.map(CAPTURE).to_numpy()
    rows, truth = [], None
    for back in range(28, -1, -1):
        day = TODAY - dt.timedelta(days=back)
        volume = 60_000 * (1 - 0.0015 * back) * WEEKLY[day.weekday()]
        warehouse = rng.poisson(volume * share).astype(float)
        client = rng.binomial(warehouse.astype(int), capture).astype(float)
        if back == 0 and incident is not None:
            truth = incident(leaves, warehouse, client, rng)
        rows.append(leaves.assign(partition=day, client=client, warehouse=warehouse,
                                  slice_key=leaves.platform + "|" + leaves.country + "|" + leaves.event_type))
    frame = pd.concat(rows, ignore_index=True)
    frame.attrs["truth"] = truth
    return frame


def duplicate_warehouse_load(mask_of=lambda leaves: np.ones(len(leaves), dtype=bool)):
    def incident(leaves, warehouse, client, rng):
        mask = mask_of(leaves)
        extra = rng.binomial(warehouse.astype(int), 0.25) * mask    # one file of four loaded twice
        warehouse += extra
        return float(extra.sum())
    return incident


def client_loss(leaves, warehouse, client, rng):
    mask = ((leaves.platform == "android") & (leaves.country == "US")).to_numpy()
    lost = rng.binomial(client.astype(int), 0.5) * mask
    client -= lost
    return -float(lost.sum())


def run(frame: pd.DataFrame):
    return diagnose(frame, DIMS, TODAY, set(), pair_name="client_vs_warehouse")


@pytest.mark.parametrize("seed", [1, 2])
def test_a_whole_warehouse_duplicate_is_the_warehouse_over_counting_all_slices(seed):
    frame = history(seed, duplicate_warehouse_load())

    diagnosis = run(frame)

    assert diagnosis.status == "explained"
    assert [c["label"] for c in diagnosis.causes] == ["all slices (table-wide)"]
    impact = diagnosis.impact
    assert impact["side"] == "warehouse" and impact["direction"] == "over"
    duplicated = frame.attrs["truth"]
    assert impact["lower"] <= duplicated <= impact["upper"]
    assert impact["events"] == pytest.approx(duplicated, rel=0.05)
    assert diagnosis.summary.startswith("warehouse over-counted about")
    assert "all slices" in diagnosis.summary


def test_a_duplicate_of_one_event_type_names_that_event_type_and_the_warehouse():
    frame = history(3, duplicate_warehouse_load(lambda leaves: (leaves.event_type == "pin_click").to_numpy()))

    diagnosis = run(frame)

    assert [c["label"] for c in diagnosis.causes] == ["event_type=pin_click"]
    assert diagnosis.impact["side"] == "warehouse" and diagnosis.impact["events"] > 0
    assert diagnosis.impact["lower"] <= frame.attrs["truth"] <= diagnosis.impact["upper"]
    assert "warehouse over-counted" in diagnosis.summary and "event_type=pin_click" in diagnosis.summary


def test_a_client_loss_on_one_slice_is_the_client_losing_events_there():
    frame = history(4, client_loss)

    diagnosis = run(frame)

    top = diagnosis.causes[0]
    assert top["label"] == "platform=android & country=US" and top["share"] > 0.9
    impact = diagnosis.impact
    assert impact["side"] == "client" and impact["events"] < 0
    assert impact["lower"] <= frame.attrs["truth"] <= impact["upper"]
    assert diagnosis.summary.startswith("client lost about")


def test_a_missing_warehouse_partition_is_said_to_be_missing_not_a_ratio():
    frame = history(5)
    frame.loc[frame.partition == TODAY, "warehouse"] = 0.0

    diagnosis = run(frame)

    assert diagnosis.status == "missing"
    assert "warehouse partition 2026-09-22 is missing or empty" in diagnosis.summary
    assert diagnosis.causes == () and diagnosis.impact is None


def test_a_day_the_detectors_found_normal_names_no_cause():
    frame = history(6)

    diagnosis = diagnose(frame, DIMS, TODAY, set(), pair_name="p", normal=lambda: "within normal variation (x)")

    assert diagnosis.status == "normal" and diagnosis.causes == ()
    assert "within normal variation" in diagnosis.summary


def test_no_rows_for_the_day_is_nothing_to_explain():
    frame = history(7)

    diagnosis = run(frame[frame.partition < TODAY])

    assert diagnosis.status == "no_data"


def test_side_attribution_sees_a_client_drop_against_a_steady_warehouse():
    days = [TODAY - dt.timedelta(days=d) for d in range(28, 0, -1)]
    rng = np.random.default_rng(8)
    warehouse = np.array([10_000 * WEEKLY[d.weekday()] for d in days]) * rng.normal(1, 0.01, len(days))
    client = warehouse * 0.95

    verdict = attribute_side(days, client, warehouse, [TODAY],
                             client_observed=10_000 * WEEKLY[TODAY.weekday()] * 0.8,
                             warehouse_observed=10_000 * WEEKLY[TODAY.weekday()])

    assert verdict.side == "client"
    assert verdict.client.moved == -1 and verdict.warehouse.moved == 0
    assert "client" in verdict.evidence() and "below" in verdict.evidence()


def gb_cube(rng) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """The leaves, each leaf's share of the traffic (country=GB 2% of it), GB's mask and the leaves'
    capture rates."""
    leaves = pd.DataFrame(list(itertools.product(*VALUES.values())), columns=DIMS)
    share = rng.dirichlet(np.full(len(leaves), 2.0))
    gb = (leaves.country == "GB").to_numpy()
    share = np.where(gb, 0.02 * share / share[gb].sum(), 0.98 * share / share[~gb].sum())
    return leaves, share, gb, leaves.platform.map(CAPTURE).to_numpy()


def drifting_history(seed: int, drift_days: int = 10, depth: float = 0.10) -> tuple[pd.DataFrame, tuple]:
    """56 clean days, then `drift_days` (TODAY the last) on which the client logs `depth` fewer of
    country=GB's events (about 400 a day); the rest as `history`. Returns (frame, the drift's days);
    `frame.attrs["lost"]`: the client events the drift lost over its days."""
    rng = np.random.default_rng(seed)
    leaves, share, gb, capture = gb_cube(rng)
    rows, drift, lost = [], [], 0.0
    for back in range(56 + drift_days - 1, -1, -1):
        day = TODAY - dt.timedelta(days=back)
        warehouse = rng.poisson(20_000 * (1 - 0.0015 * back) * WEEKLY[day.weekday()] * share).astype(float)
        client = rng.binomial(warehouse.astype(int), capture).astype(float)
        if back < drift_days:
            drift.append(day)
            missing = rng.binomial(client.astype(int), depth) * gb
            client -= missing
            lost += float(missing.sum())
        rows.append(leaves.assign(partition=day, warehouse=warehouse, client=client,
                                  slice_key=leaves.platform + "|" + leaves.country + "|" + leaves.event_type))
    frame = pd.concat(rows, ignore_index=True)
    frame.attrs["lost"] = lost          # the client events the drift lost
    return frame, tuple(drift)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_ten_day_client_drift_on_a_small_slice_is_the_client_judged_on_the_days_since_onset(seed):
    frame, drift = drifting_history(seed)
    gb_today = frame[(frame.partition == TODAY) & (frame.country == "GB")]
    assert 300 < gb_today.warehouse.sum() < 500          # a slice of a few hundred events a day

    today_only = diagnose(frame, DIMS, TODAY, set(), pair_name="p")
    pooled = diagnose(frame, DIMS, TODAY, set(), pair_name="p", incident=drift)

    assert pooled.causes[0]["label"] == "country=GB"
    assert pooled.impact["side"] == "client" and pooled.impact["events"] < 0
    assert f"over the 10 days since {drift[0]}" in pooled.impact["evidence"]
    # One day of the drift alone leaves both sides within their history's interval.
    assert today_only.impact is None or today_only.impact["side"] == "undetermined"


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_lasting_drift_states_the_events_lost_over_the_incident_with_its_interval(seed):
    frame, drift = drifting_history(seed)

    pooled = diagnose(frame, DIMS, TODAY, set(), pair_name="p", incident=drift)
    one_day = diagnose(frame, DIMS, TODAY, set(), pair_name="p")

    impact = pooled.impact
    assert impact["side"] == "client" and impact["incident_side"] == "client"   # the incident's, pooled
    assert impact["incident_days"] == 10 and impact["incident_since"] == drift[0].isoformat()
    lost = frame.attrs["lost"]
    assert 300 < lost < 500                      # 10 days of a 10% loss on about 400 events a day
    assert impact["incident_lower"] <= -lost <= impact["incident_upper"]     # a 90% interval
    # Today's impact is still one day's, about a tenth of the incident's.
    assert impact["events"] == pytest.approx(impact["incident_events"] / 10, rel=0.6)
    assert f"over the 10 days since {drift[0]}" in pooled.summary
    assert pooled.summary.startswith("client lost about") and " today; lost about " in pooled.summary
    # A discrepancy judged on one day states one day's impact and nothing over an incident.
    assert one_day.impact is None or "incident_events" not in one_day.impact


def swinging_history(seed: int, loss_days: int = 5, loss: float = 0.08) -> tuple[pd.DataFrame, tuple]:
    """56 clean days, then `loss_days` (TODAY the last) on which the client logs `loss` fewer of
    country=GB's events (2% of the table, about 1,200 a day); every day the whole product's traffic
    swings by a common random factor (10% standard deviation, on every slice and both sides).
    `frame.attrs["swing"]`: the traffic factors of the history days."""
    rng = np.random.default_rng(seed)
    leaves, share, gb, capture = gb_cube(rng)
    rows, lossy, swings = [], [], []
    for back in range(56 + loss_days - 1, -1, -1):
        day = TODAY - dt.timedelta(days=back)
        swing = float(np.exp(rng.normal(0, 0.10)))
        warehouse = rng.poisson(60_000 * swing * WEEKLY[day.weekday()] * share).astype(float)
        client = rng.binomial(warehouse.astype(int), capture).astype(float)
        if back < loss_days:
            lossy.append(day)
            client -= rng.binomial(client.astype(int), loss) * gb
        else:
            swings.append(swing)
        rows.append(leaves.assign(partition=day, warehouse=warehouse, client=client,
                                  slice_key=leaves.platform + "|" + leaves.country + "|" + leaves.event_type))
    frame = pd.concat(rows, ignore_index=True)
    frame.attrs["swing"] = np.array(swings)
    return frame, tuple(lossy)


@pytest.mark.parametrize("seed", [21, 23, 26])
def test_a_few_percent_client_loss_on_a_small_slice_is_the_client_while_all_traffic_swings(seed):
    frame, lossy = swinging_history(seed)
    assert frame.attrs["swing"].std() > 0.05            # the product's traffic does swing

    diagnosis = diagnose(frame, DIMS, TODAY, set(), pair_name="p", incident=lossy)

    assert diagnosis.causes[0]["label"] == "country=GB"
    assert diagnosis.impact["side"] == "client" and diagnosis.impact["events"] < 0
    assert "share of the rest of the table" in diagnosis.impact["evidence"]
    # Against its own history alone, the slice's count moves with the traffic: the loss is within.
    gb = frame[frame.country == "GB"].groupby("partition")[["client", "warehouse"]].sum()
    past = gb[gb.index < lossy[0]]
    now = gb[gb.index >= lossy[0]].sum()
    own = attribute_side(list(past.index), past.client.to_numpy(), past.warehouse.to_numpy(), lossy,
                         float(now.client), float(now.warehouse))
    assert own.side == "undetermined" and own.client.moved == 0


@pytest.mark.parametrize("seed", [24, 25])
def test_a_duplicate_of_a_small_slice_is_the_warehouse_while_all_traffic_swings(seed):
    frame, _ = swinging_history(seed, loss_days=0)
    today = (frame.partition == TODAY) & (frame.country == "GB")
    rng = np.random.default_rng(seed)
    frame.loc[today, "warehouse"] += rng.binomial(frame.loc[today, "warehouse"].astype(int), 0.25)

    diagnosis = diagnose(frame, DIMS, TODAY, set(), pair_name="p")

    assert diagnosis.causes[0]["label"] == "country=GB"
    assert diagnosis.impact["side"] == "warehouse" and diagnosis.impact["events"] > 0


def test_a_side_whose_rest_of_the_table_is_small_and_noisy_is_judged_on_its_own_history():
    days = [TODAY - dt.timedelta(days=d) for d in range(28, 0, -1)]
    rng = np.random.default_rng(9)
    warehouse = np.array([10_000 * WEEKLY[d.weekday()] for d in days]) * rng.normal(1, 0.01, len(days))
    client = warehouse * 0.95
    rest = {side: (rng.poisson(40, len(days)).astype(float), np.array([40.0])) for side in ("client", "warehouse")}

    verdict = attribute_side(days, client, warehouse, [TODAY],
                             client_observed=10_000 * WEEKLY[TODAY.weekday()] * 0.8,
                             warehouse_observed=10_000 * WEEKLY[TODAY.weekday()], rest=rest)

    assert verdict.side == "client"
    assert verdict.client.basis == verdict.warehouse.basis == "history"
    assert "its history's" in verdict.evidence()


def test_a_warehouse_move_on_every_slice_is_the_warehouse_even_when_the_cause_is_one_slice():
    # A timezone shift named on one slice: the rest of the table moved too, so it is no reference.
    days = [TODAY - dt.timedelta(days=d) for d in range(28, 0, -1)]
    rng = np.random.default_rng(10)
    level = np.array([10_000 * WEEKLY[d.weekday()] for d in days])
    warehouse, rest_warehouse = level * rng.normal(1, 0.01, len(days)), 4 * level * rng.normal(1, 0.01, len(days))
    today = 10_000 * WEEKLY[TODAY.weekday()]
    rest = {"client": (0.95 * rest_warehouse, np.array([0.95 * 4 * today])),
            "warehouse": (rest_warehouse, np.array([0.8 * 4 * today]))}

    verdict = attribute_side(days, 0.95 * warehouse, warehouse, [TODAY], client_observed=0.95 * today,
                             warehouse_observed=0.8 * today, rest=rest)

    assert verdict.side == "warehouse" and verdict.warehouse.moved == -1
    assert verdict.warehouse.basis == "history"


def test_a_three_week_client_drift_on_a_slice_with_a_steady_share_is_the_client():
    # The capture falls to 7% lower over 21 days: 3.7% of the slice's events over the drift. A share of
    # the table that never trended is predicted without extrapolating a trend three weeks ahead, whose
    # uncertainty would hide the loss.
    # One slice of 1,500 warehouse events a day, 56 history days, traffic without a swing
    # (`bench/rca/side_attribution.window`).
    verdicts = [side_window(np.random.default_rng(seed), 1_500, 0.0, 0.0, "drift", 21, 0.07) for seed in range(20)]
    assert sum(v.side == "client" for v in verdicts) >= 17
    assert all(v.side in ("client", "undetermined") for v in verdicts)
    assert all(v.client.basis == "rest" for v in verdicts)
    # The same windows with nothing lost name no side.
    clean = [side_window(np.random.default_rng(seed), 1_500, 0.0, 0.0, "clean", 21, 0.0) for seed in range(20)]
    assert sum(v.side != "undetermined" for v in clean) <= 1


def steady_side_history(seed: int) -> tuple[list, np.ndarray, np.ndarray]:
    """28 days of a slice whose two sides wobble 2% a day independently, around a steady capture."""
    days = [TODAY - dt.timedelta(days=d) for d in range(28, 0, -1)]
    rng = np.random.default_rng(seed)
    level = np.array([10_000 * WEEKLY[d.weekday()] for d in days])
    return days, 0.95 * level * rng.lognormal(0, 0.02, len(days)), level * rng.lognormal(0, 0.02, len(days))


def at_z(days, history, z: float) -> float:
    """The count today that sits `z` prediction standard errors from what `history` predicts."""
    expected, _, upper = pooled_expectation(days, history, [TODAY])
    return expected * float(np.exp(z * np.log(upper / expected) / INTERVAL_Z))


def test_a_client_short_of_its_history_with_the_warehouse_on_its_own_is_the_client_inside_the_interval():
    # 2.6 prediction errors below is inside the 3-error interval, but "the warehouse is as its history
    # says" is then exp(2.6^2 / 2) = 29 times as likely as "the client is": the client is named.
    days, client, warehouse = steady_side_history(12)

    verdict = attribute_side(days, client, warehouse, [TODAY], client_observed=at_z(days, client, -2.6),
                             warehouse_observed=at_z(days, warehouse, 0.0))

    assert verdict.side == "client"
    assert verdict.client.moved == 0 and verdict.client.z == pytest.approx(-2.6)
    assert "-2.6 se" in verdict.evidence()
    # With the warehouse 1.5 errors off the other way, the two stories are 9.5 times apart: too close.
    verdict = attribute_side(days, client, warehouse, [TODAY], client_observed=at_z(days, client, -2.6),
                             warehouse_observed=at_z(days, warehouse, 1.5))
    assert verdict.side == "undetermined"


def test_a_traffic_surge_on_both_sides_of_a_slice_is_blamed_on_neither():
    # The slice's traffic runs 10% above its history on 5 days, on both sides alike: each side leaves
    # its interval, the same way, and the ratio moves only by the client's sampling noise.
    verdicts = [side_window(np.random.default_rng(seed), 1_500, 0.1, 0.0, "surge", 5, 0.10) for seed in range(20)]

    assert all(v.client.moved == v.warehouse.moved == 1 for v in verdicts)
    assert all(v.side == "undetermined" for v in verdicts)
    assert all("no discrepancy on these slices" in v.evidence() for v in verdicts)


@pytest.mark.parametrize("seed", [37, 38, 40])
def test_a_four_day_loss_on_a_small_country_is_localised_on_its_days_pooled_as_that_country(seed):
    # 12% of country=GB's client events (about 400 a day) lost on 4 days. On the last day alone a
    # leaf's noise can outweigh the loss (seed 37 named a leaf of another country, 38 one event type).
    frame, lossy = drifting_history(seed, drift_days=4, depth=0.12)

    diagnosis = diagnose(frame, DIMS, TODAY, set(), pair_name="p", incident=lossy)

    assert [c["label"] for c in diagnosis.causes] == ["country=GB"]
    assert diagnosis.impact["side"] == "client" and diagnosis.impact["incident_events"] < 0


def test_a_loss_on_a_country_whose_event_types_each_stand_out_is_the_country_not_its_event_types():
    # Pooled over 4 days, five of GB's fifteen leaves are abnormal one by one and are found so; the
    # country is found in aggregate. Each event type then explains something beyond the others, and
    # the country nothing beyond them: one element, the country, describes the loss more briefly.
    frame, lossy = drifting_history(40, drift_days=4, depth=0.12)
    leaves = incident_leaves(frame, DIMS, lossy, set())
    share = forecast_share(leaves, denominator="warehouse", baseline_denominator="baseline_warehouse")

    causes = localize(leaves.assign(share=share), DIMS, real="client", predict="expected_client",
                      forecast_share="share")

    assert [c.label() for c in causes] == ["country=GB"]
    assert causes[0].share > 0.9
