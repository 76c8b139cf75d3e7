"""The demo generator at scale: a drawn incident schedule, more dimension values, effects visible in the
data; and the default demo, which tests and golden files depend on, staying exactly what it was."""
from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest

from mq.demo import (INCIDENT_DAYS, INCIDENT_GAP_DAYS, MORE_COUNTRIES, MORE_EVENT_TYPES, TIMEZONE_SHIFT_HOURS,
                     DemoSpec, dimension_values, generate, plan_incidents)

TINY = DemoSpec(days=60, daily_events=8000, seed=3, countries=6, app_versions=3, event_types=4,
                incidents_per_kind=1, warmup_days=14)


def _windows(incidents) -> list[tuple[dt.date, dt.date]]:
    return sorted((dt.date.fromisoformat(i.start), dt.date.fromisoformat(i.end)) for i in incidents)


@pytest.mark.parametrize("per_kind, days", [(1, 60), (3, 140), (12, 730)])
def test_the_schedule_has_the_requested_count_of_every_kind_none_overlapping(per_kind, days):
    spec = DemoSpec(days=days, countries=6, app_versions=3, event_types=4, incidents_per_kind=per_kind,
                    warmup_days=14, seed=5)
    incidents = plan_incidents(spec)
    assert Counter(i.kind for i in incidents) == {kind: per_kind for kind in INCIDENT_DAYS}
    windows = _windows(incidents)
    for (_, end), (next_start, _) in zip(windows, windows[1:]):
        assert (next_start - end).days > INCIDENT_GAP_DAYS, f"{end} and {next_start} are too close"
    assert windows[0][0] >= spec.day(spec.warmup_days) and windows[-1][1] <= spec.end
    for inc in incidents:
        assert (dt.date.fromisoformat(inc.end) - dt.date.fromisoformat(inc.start)).days + 1 == INCIDENT_DAYS[inc.kind]
    assert len({i.id for i in incidents}) == len(incidents)
    assert sum(not i.should_alert for i in incidents) == per_kind   # the holidays


def test_the_schedule_comes_from_the_seed():
    again = plan_incidents(DemoSpec(**{**TINY.__dict__}))
    assert again == plan_incidents(TINY)
    assert _windows(plan_incidents(DemoSpec(**{**TINY.__dict__, "seed": 4}))) != _windows(again)


def test_a_schedule_that_does_not_fit_is_refused_with_the_days_it_needs():
    with pytest.raises(ValueError, match=r"7 incidents need \d+ days"):
        plan_incidents(DemoSpec(days=30, incidents_per_kind=1, warmup_days=14))
    with pytest.raises(ValueError, match="DemoSpec.countries"):
        DemoSpec(countries=len(MORE_COUNTRIES) + 1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_scale")
    truth = generate(out, TINY)
    incidents = {i["kind"]: i for i in truth["incidents"]}

    def read(table: str) -> pd.DataFrame:
        frame = ds.dataset(out / table, format="parquet", partitioning="hive").to_table().to_pandas()
        frame["ds"] = pd.to_datetime(frame["ds"]).dt.date
        return frame

    return truth, incidents, read("client_events"), read("warehouse_events")


def _day(incident: dict, offset: int = 0) -> dt.date:
    return dt.date.fromisoformat(incident["start"]) + dt.timedelta(days=offset)


def _clean_days(incidents: dict) -> set[dt.date]:
    busy = set()
    for inc in incidents.values():
        first, last = dt.date.fromisoformat(inc["start"]), dt.date.fromisoformat(inc["end"])
        busy |= {first + dt.timedelta(days=k) for k in range((last - first).days + 2)}   # and the day after
    return set(TINY.dates) - busy


def _capture(client: pd.DataFrame, warehouse: pd.DataFrame, days, **labels) -> float:
    """client rows / warehouse rows over `days` in the slice `labels`."""
    def rows(frame):
        keep = frame["ds"].isin(set(days))
        for k, v in labels.items():
            keep &= frame[k] == v
        return int(keep.sum())
    return rows(client) / rows(warehouse)


def test_the_dimensions_take_the_requested_values(tiny):
    _, _, client, warehouse = tiny
    countries, versions, event_types = dimension_values(TINY)
    assert set(warehouse.country) == set(MORE_COUNTRIES[:6]) == set(countries)
    assert set(warehouse.event_type) == set(MORE_EVENT_TYPES[:4]) == set(event_types)
    assert set(warehouse.app_version) == set(versions) | {"web"} and len(versions) == 3


def test_a_duplicate_load_adds_a_quarter_of_the_partition_again(tiny):
    _, incidents, client, warehouse = tiny
    day = _day(incidents["duplicate_load"])
    rows = warehouse[warehouse.ds == day]
    duplicated = int(rows.event_id.duplicated().sum())
    assert duplicated == (len(rows) - duplicated) // 4
    normal = np.median([_capture(client, warehouse, [d]) for d in _clean_days(incidents)])
    assert _capture(client, warehouse, [day]) == pytest.approx(normal / 1.25, rel=0.03)


def test_a_missing_partition_has_no_warehouse_files_and_a_null_spike_drops_a_quarter_of_user_ids(tiny):
    _, incidents, client, warehouse = tiny
    missing = _day(incidents["missing_partition"])
    assert not (warehouse.ds == missing).any() and (client.ds == missing).sum() > 1000
    spike = _day(incidents["null_spike"])
    null_share = client.groupby("ds").user_id.apply(lambda s: s.isna().mean())
    assert null_share[spike] == pytest.approx(0.25, abs=0.02)
    assert null_share.drop(spike).max() == 0


def test_a_holiday_has_low_traffic_on_both_sides(tiny):
    _, incidents, client, warehouse = tiny
    holiday = _day(incidents["holiday"])
    week_before, week_after = holiday - dt.timedelta(days=7), holiday + dt.timedelta(days=7)
    for frame in (client, warehouse):
        counts = frame.groupby("ds").size()
        assert counts[holiday] / np.mean([counts[week_before], counts[week_after]]) == pytest.approx(0.55, abs=0.05)


def test_a_logging_loss_halves_the_capture_of_its_slice_only(tiny):
    _, incidents, client, warehouse = tiny
    loss = incidents["client_logging_loss"]
    days, clean = [_day(loss), _day(loss, 1)], _clean_days(incidents)
    hit = loss["labels"]
    assert _capture(client, warehouse, days, **hit) / _capture(client, warehouse, clean, **hit) == pytest.approx(0.5, abs=0.05)
    other = "ios" if hit["platform"] == "android" else "android"
    assert _capture(client, warehouse, days, platform=other) / _capture(client, warehouse, clean, platform=other) \
        == pytest.approx(1.0, abs=0.02)


def test_a_ratio_drift_lowers_the_capture_of_its_country_step_by_step(tiny):
    _, incidents, client, warehouse = tiny
    drift = incidents["ratio_drift"]
    country, clean = drift["labels"]["country"], _clean_days(incidents)
    normal = _capture(client, warehouse, clean, country=country)
    early = _capture(client, warehouse, [_day(drift, k) for k in range(3)], country=country) / normal
    late = _capture(client, warehouse, [_day(drift, k) for k in range(10, 14)], country=country) / normal
    assert early == pytest.approx(1 - 0.10 * 2 / 14, abs=0.025)     # days 1-3 lose 0.7-2.1%
    assert late == pytest.approx(1 - 0.10 * 12.5 / 14, abs=0.025)   # days 11-14 lose 7.9-10%


def test_a_timezone_shift_moves_the_last_hours_of_a_warehouse_partition_into_the_next(tiny):
    _, incidents, client, warehouse = tiny
    shift = incidents["timezone_shift"]
    first, second = _day(shift), _day(shift, 1)
    cut = pd.Timestamp(first) + pd.Timedelta(hours=24 - TIMEZONE_SHIFT_HOURS)
    on_first = warehouse[warehouse.ds == first]
    assert on_first.event_ts.max() < cut
    moved = warehouse[(warehouse.ds == second) & (warehouse.event_ts < pd.Timestamp(second))]
    assert len(moved) > 0 and moved.event_ts.min() >= cut
    late_client = client[(client.ds == first) & (client.event_ts >= cut)]
    assert len(late_client) > 0.9 * len(moved)   # the client side kept them on the first day


def test_the_small_demo_is_exactly_the_demo_it_always_was(demo_warehouse):
    """Tests and golden files read the default demo: the scale options must not change it."""
    folder, truth = demo_warehouse
    assert truth["rows"] == {"client_events": 205_881, "warehouse_events": 217_450}
    assert [(i["id"], i["start"], i["end"]) for i in truth["incidents"]] == [
        ("logging-loss", "2026-09-17", "2026-09-18"), ("duplicate-load", "2026-09-22", "2026-09-22"),
        ("missing-partition", "2026-09-26", "2026-09-26"), ("null-spike", "2026-09-30", "2026-09-30"),
        ("holiday", "2026-10-05", "2026-10-05")]
    frame = ds.dataset(folder / "client_events", format="parquet", partitioning="hive").to_table(
        columns=["ds", "platform", "country", "app_version", "event_type"]).to_pandas()
    counts = frame.astype(str).value_counts().sort_index()
    digest = hashlib.sha256(repr([(tuple(k), int(v)) for k, v in counts.items()]).encode()).hexdigest()
    assert digest == SMALL_DEMO_CLIENT_COUNTS, "the default demo's data changed"


# sha256 of the small demo's client row counts per (ds, platform, country, app_version, event_type),
# as generated before the scale options existed.
SMALL_DEMO_CLIENT_COUNTS = "20b11160890f3680c3c23b1852911dc01efb3a79b544ec1f9fb6b8fae104e445"
