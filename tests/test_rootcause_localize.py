"""Root-cause localisation on seeded synthetic cubes with known injected failures."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from rootcause import RootCause, forecast_share, localize, localize_ratio

DIMENSIONS = ["platform", "app_version", "country"]
VALUES = {
    "platform": ["android", "ios", "web"],
    "app_version": ["9.0", "9.1", "10.0", "10.1", "11.0"],
    "country": ["US", "DE", "FR", "BR", "IN", "JP", "GB", "MX", "CA", "ES"],
}


def cube(seed: int) -> pd.DataFrame:
    """Every leaf of platform x app_version x country, with a skewed expected event count."""
    rng = np.random.default_rng(seed)
    leaves = pd.DataFrame(list(itertools.product(*VALUES.values())), columns=DIMENSIONS)
    leaves["predict"] = np.round(rng.lognormal(mean=6.0, sigma=1.2, size=len(leaves)), 1)
    return leaves


def observe(leaves: pd.DataFrame, seed: int, factors: dict[tuple[tuple[str, str], ...], float]) -> pd.DataFrame:
    """real ~ Poisson(predict x factor), factor 1 outside the injected elements."""
    rng = np.random.default_rng(seed)
    factor = np.ones(len(leaves))
    for element, change in factors.items():
        mask = np.logical_and.reduce([leaves[dim].to_numpy() == value for dim, value in element])
        factor[mask] *= change
    out = leaves.copy()
    out["real"] = rng.poisson(out["predict"].to_numpy() * factor).astype(float)
    return out


ANDROID_10 = (("platform", "android"), ("app_version", "10.0"))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_injected_drop_is_the_top_cause_with_almost_all_of_the_deviation(seed):
    leaves = observe(cube(seed), seed, {ANDROID_10: 0.4})

    causes = localize(leaves, DIMENSIONS)

    assert causes, "an injected 60% drop must be localised"
    top = causes[0]
    assert top.elements == {"platform": "android", "app_version": "10.0"}
    assert top.label() == "platform=android & app_version=10.0"
    assert top.share == pytest.approx(1.0, abs=0.1)
    assert top.observed < top.expected
    assert 0.5 < top.confidence <= 1.0
    assert len(causes) == 1


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_15_percent_loss_within_counting_noise_of_most_leaves_is_localised_as_one_cause(seed):
    # At ~400 events a leaf, a 15% loss is about 3 standard errors: few leaves are abnormal on their
    # own, the slice as a whole is far off.
    leaves = observe(cube(seed), seed, {ANDROID_10: 0.85})

    causes = localize(leaves, DIMENSIONS)

    assert [cause.label() for cause in causes] == ["platform=android & app_version=10.0"]
    assert causes[0].share == pytest.approx(1.0, abs=0.1)


def test_two_simultaneous_causes_in_opposite_directions_are_both_found():
    leaves = observe(cube(7), 7, {ANDROID_10: 0.3, (("country", "BR"),): 1.8})

    causes = localize(leaves, DIMENSIONS)

    assert {cause.label() for cause in causes} == {"platform=android & app_version=10.0", "country=BR"}
    by_label = {cause.label(): cause for cause in causes}
    assert by_label["country=BR"].observed > by_label["country=BR"].expected
    assert by_label["platform=android & app_version=10.0"].observed < by_label[
        "platform=android & app_version=10.0"].expected
    assert causes == sorted(causes, key=lambda cause: -cause.share)


def test_two_causes_in_the_same_dimension_are_reported_separately():
    leaves = observe(cube(11), 11, {(("country", "DE"),): 0.5, (("country", "JP"),): 0.5})

    labels = [cause.label() for cause in localize(leaves, DIMENSIONS)]

    assert sorted(labels) == ["country=DE", "country=JP"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_three_of_five_versions_dropping_together_are_named_not_all_slices(seed):
    # 60% of the cube drops by the same 37% under a 5% forecast error: "all slices moved, the other
    # two versions beyond" would claim a move of versions that stayed where they were forecast.
    leaves = cube(seed)
    rng = np.random.default_rng(100 + seed)
    leaves["predict"] = leaves.predict * (1 + rng.normal(0.0, 0.05, len(leaves)))
    dropped = {"9.0", "9.1", "10.0"}
    leaves = observe(leaves, seed, {(("app_version", v),): 0.63 for v in dropped})

    labels = [cause.label() for cause in localize(leaves, DIMENSIONS, max_causes=9)]

    assert len(labels) >= 2 and set(labels) <= {f"app_version={v}" for v in dropped}


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_counting_noise_alone_localises_nothing(seed):
    leaves = observe(cube(seed), seed, {})

    assert localize(leaves, DIMENSIONS) == []


def test_dimension_order_of_the_elements_follows_the_declared_order():
    leaves = observe(cube(8), 8, {ANDROID_10: 0.4})

    causes = localize(leaves, ["app_version", "country", "platform"])

    assert causes[0].label() == "app_version=10.0 & platform=android"


def test_max_causes_keeps_the_largest_shares():
    leaves = observe(cube(9), 9, {(("country", "US"),): 0.2, (("country", "DE"),): 0.6,
                                  (("country", "FR"),): 0.5})

    causes = localize(leaves, DIMENSIONS, max_causes=1)

    full = localize(leaves, DIMENSIONS)
    assert len(full) == 3
    assert causes == full[:1]


def test_ratio_change_is_blamed_on_the_slice_whose_capture_rate_fell_not_on_traffic_growth():
    rng = np.random.default_rng(21)
    leaves = cube(21).rename(columns={"predict": "warehouse_history"})
    history = (leaves["warehouse_history"] * 30).round().astype(int).to_numpy()
    capture = rng.uniform(0.9, 0.99, size=len(leaves))
    leaves["warehouse_history"] = history
    leaves["client_history"] = rng.binomial(history, capture)
    growth = np.where(leaves["platform"] == "web", 2.5, 1.0)         # traffic, not a logging problem
    leaves["warehouse"] = rng.poisson(history / 30 * growth)
    broken = ((leaves["platform"] == "ios") & (leaves["country"] == "DE")).to_numpy()
    leaves["client"] = rng.binomial(leaves["warehouse"], np.where(broken, capture * 0.5, capture))

    causes = localize_ratio(leaves, DIMENSIONS, numerator="client", denominator="warehouse",
                            baseline_numerator="client_history", baseline_denominator="warehouse_history")

    assert [cause.label() for cause in causes] == ["platform=ios & country=DE"]
    assert causes[0].observed < causes[0].expected


def test_events_the_warehouse_lost_show_as_client_over_count_where_nothing_was_expected():
    rng = np.random.default_rng(31)
    leaves = cube(31).rename(columns={"predict": "warehouse"})
    leaves["warehouse"] = rng.poisson(leaves["warehouse"])
    leaves["warehouse_history"] = leaves["warehouse"] * 20
    leaves["client_history"] = rng.binomial(leaves["warehouse_history"], 0.95)
    leaves["client"] = rng.binomial(leaves["warehouse"], 0.95)
    lost = (leaves["country"] == "JP").to_numpy()
    leaves.loc[lost, "warehouse"] = 0          # the warehouse load failed for JP; the client logged

    causes = localize_ratio(leaves, DIMENSIONS, numerator="client", denominator="warehouse",
                            baseline_numerator="client_history", baseline_denominator="warehouse_history")

    assert [cause.label() for cause in causes] == ["country=JP"]
    assert causes[0].expected == 0 and causes[0].observed > 0


def capture_history(leaves: pd.DataFrame, rng, noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adds 28 days of history at a per-leaf capture rate and today's (exact) warehouse count to
    `leaves`; returns (volume, rate, today's day-to-day factor N(1, noise) of the client count)."""
    volume = np.round(rng.lognormal(6.0, 1.2, len(leaves)))
    rate = rng.uniform(0.5, 0.9, len(leaves))
    leaves["warehouse_history"] = volume * 28
    leaves["client_history"] = np.round(volume * 28 * rate)
    leaves["warehouse"] = volume
    return volume, rate, np.clip(rng.normal(1.0, noise, len(leaves)), 0.0, None)


def capture_cube(seed: int, changed: np.ndarray | None = None, factor: float = 1.0,
                 noise: float = 0.15) -> pd.DataFrame:
    """Leaves with 28 days of history at a per-leaf capture rate; today the client count moves by a
    day-to-day factor N(1, noise) on every leaf (the warehouse is exact), and by `factor` instead on
    the `changed` leaves."""
    rng = np.random.default_rng(seed)
    leaves = pd.DataFrame(list(itertools.product(*VALUES.values())), columns=DIMENSIONS)
    volume, rate, day = capture_history(leaves, rng, noise)
    if changed is not None:
        day = np.where(changed, factor, day)
    leaves["client"] = np.round(volume * rate * day)
    return leaves


def localize_capture(leaves: pd.DataFrame) -> list[RootCause]:
    return localize_ratio(leaves, DIMENSIONS, numerator="client", denominator="warehouse",
                          baseline_numerator="client_history", baseline_denominator="warehouse_history")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_capture_rate_that_rose_on_one_leaf_is_found_as_surely_as_a_drop_of_the_same_size(seed):
    # A rise by 80% under 15% day-to-day noise on the client count. Judged against the larger side
    # (the client's) it would show as (1 - 1 / 1.8) / 0.15 = 3 standard errors, under the bound for
    # 150 leaves; against the baseline's expected count, which 28 days make precise, it shows as
    # 0.8 / 0.15 = 5.3, as an 80% drop does.
    leaves = cube(seed)
    one = ((leaves.platform == "ios") & (leaves.app_version == "9.1") & (leaves.country == "FR")).to_numpy()
    for factor in (1.8, 0.2):
        causes = localize_capture(capture_cube(seed, one, factor))
        assert [cause.label() for cause in causes] == ["platform=ios & app_version=9.1 & country=FR"], factor
        assert (causes[0].observed > causes[0].expected) == (factor > 1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_day_to_day_noise_of_a_capture_rate_alone_localises_nothing(seed):
    assert localize_capture(capture_cube(seed)) == []


def test_the_forecast_share_of_a_ratio_is_todays_denominator_over_its_baselines():
    leaves = pd.DataFrame({"warehouse": [10.0, 30.0, 5.0], "warehouse_history": [280.0, 300.0, 0.0]})

    share = forecast_share(leaves, denominator="warehouse", baseline_denominator="warehouse_history")

    # The leaf without history takes the pooled ratio, whose baseline is all 580 events.
    assert share == pytest.approx([10 / 280, 30 / 300, 5 / 580])
    with pytest.raises(ValueError, match="'warehouse_history' sums to 0"):
        forecast_share(leaves.assign(warehouse_history=0.0), denominator="warehouse",
                       baseline_denominator="warehouse_history")


def test_a_negative_forecast_share_is_rejected_naming_the_column():
    leaves = observe(cube(1), 1, {}).assign(share=-0.5)
    with pytest.raises(ValueError, match="column 'share' has negative values"):
        localize(leaves, DIMENSIONS, forecast_share="share")


@pytest.mark.parametrize("column", ["real", "predict", "platform"])
def test_a_missing_column_is_named_in_the_error(column):
    leaves = observe(cube(1), 1, {}).drop(columns=[column])

    with pytest.raises(ValueError, match=repr(column)):
        localize(leaves, DIMENSIONS)


def test_negative_values_are_rejected_naming_the_column():
    leaves = observe(cube(1), 1, {})
    leaves.loc[3, "predict"] = -1.0

    with pytest.raises(ValueError, match="'predict'"):
        localize(leaves, DIMENSIONS)


def test_all_zero_leaves_have_nothing_to_explain():
    leaves = cube(1).assign(predict=0.0, real=0.0)

    assert localize(leaves, DIMENSIONS) == []


def test_root_cause_label_uses_the_elements_in_order():
    cause = RootCause(elements={"platform": "ios", "country": "DE"}, share=0.5, confidence=0.9,
                      observed=10.0, expected=20.0)

    assert cause.label() == "platform=ios & country=DE"


def test_a_message_names_the_main_cause_and_only_the_causes_that_carry_half_a_percent():
    """The localiser keeps every significant element; a message (`material`) drops the ones of a few
    events beside a large move, never the main cause, however small."""
    from rootcause import material

    wide = RootCause({}, 0.994, 0.99, 1000.0, 880.0)
    leaf = RootCause({"platform": "ios", "country": "MX"}, 0.001, 0.9, 9.0, 6.0)
    half = RootCause({"platform": "web"}, 0.005, 0.9, 50.0, 40.0)
    assert material([wide, leaf, half]) == [wide, half]
    lone = RootCause({"country": "PK"}, 0.002, 0.6, 10.0, 7.0)
    assert material([lone]) == [lone]


def rate_cube(sizes: dict[str, int], seed: int, noise: float, risen: dict[tuple[tuple[str, str], ...], float]
              ) -> pd.DataFrame:
    """A capture-rate cube of `sizes` values per dimension (28 days of history, an exact warehouse),
    the client count moved by a day-to-day factor N(1, noise), and by the given factor instead on the
    leaves of each `risen` element."""
    rng = np.random.default_rng(seed)
    values = [[f"{dim}{i}" for i in range(1, n + 1)] for dim, n in sizes.items()]
    leaves = pd.DataFrame(list(itertools.product(*values)), columns=list(sizes))
    volume, rate, day = capture_history(leaves, rng, noise)
    for element, factor in risen.items():
        mask = np.logical_and.reduce([leaves[dim].to_numpy() == value for dim, value in element])
        day[mask] = factor
    leaves["client"] = np.round(volume * rate * day)
    return leaves


def localize_rate(leaves: pd.DataFrame, dimensions: list[str]) -> list[str]:
    causes = localize_ratio(leaves, dimensions, numerator="client", denominator="warehouse",
                            baseline_numerator="client_history", baseline_denominator="warehouse_history")
    return sorted(cause.label() for cause in causes)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_risen_values_are_named_not_a_dimension_that_splits_them_with_an_unmoved_value(seed):
    # Two of five values of x rose 500-fold. Every value of y holds leaves of both and of the three
    # unmoved values; weighted by how far they moved, the risen leaves outvoted the others 15 to 1
    # and made y1 and y2 look like pure causes, though three fifths of each did not move.
    sizes = {"x": 5, "y": 2, "z": 15}
    risen = {(("x", "x1"),): 500.0, (("x", "x2"),): 500.0}
    assert localize_rate(rate_cube(sizes, seed, 0.1, risen), list(sizes)) == ["x=x1", "x=x2"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_under_heavy_day_to_day_noise_risen_leaves_are_named_not_the_slice_holding_them(seed):
    # At 30% noise a leaf dropped to zero is within the bound for 150 leaves (1 / 0.3 = 3.3 standard
    # errors), but a 50-fold rise is far beyond it. Capping a cause's typical change at 100% left no
    # unmoved leaf informative, so the platform holding both risen leaves passed for a pure cause.
    risen = {(("platform", "ios"), ("app_version", "9.0"), ("country", "US")): 50.0,
             (("platform", "ios"), ("app_version", "10.0"), ("country", "DE")): 50.0}
    leaves = capture_cube(seed, noise=0.3)
    for element, factor in risen.items():
        mask = np.logical_and.reduce([leaves[dim].to_numpy() == value for dim, value in element])
        leaves.loc[mask, "client"] = np.round(leaves.loc[mask, "client_history"] / 28 * factor)
    assert localize_rate(leaves, DIMENSIONS) == ["platform=ios & app_version=10.0 & country=DE",
                                                 "platform=ios & app_version=9.0 & country=US"]
