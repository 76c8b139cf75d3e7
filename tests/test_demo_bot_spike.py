"""The demo's optional bot spike: one country x event type with three times its traffic on both sides."""
from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq

from mq.demo import DemoSpec, generate, plan_incidents


def test_bot_spikes_are_drawn_only_on_request_and_leave_other_schedules_unchanged():
    base = DemoSpec(days=120, countries=6, event_types=5, app_versions=4, incidents_per_kind=1)
    with_bots = DemoSpec(days=120, countries=6, event_types=5, app_versions=4, incidents_per_kind=1, bot_spikes=2)

    assert all(i.kind != "bot_spike" for i in plan_incidents(base))
    bots = [i for i in plan_incidents(with_bots) if i.kind == "bot_spike"]
    assert len(bots) == 2 and all(set(i.labels) == {"country", "event_type"} and i.table == "both" for i in bots)
    assert plan_incidents(DemoSpec()) == plan_incidents(DemoSpec(bot_spikes=0))


def test_a_bot_spike_triples_its_slice_on_both_sides(tmp_path):
    spec = DemoSpec(days=70, daily_events=4000, countries=4, event_types=4, app_versions=3, bot_spikes=1,
                    warmup_days=60)
    truth = generate(tmp_path, spec)
    bot = next(i for i in truth["incidents"] if i["kind"] == "bot_spike")
    day = dt.date.fromisoformat(bot["start"])
    week_before = day - dt.timedelta(days=7)

    for table in ("client_events", "warehouse_events"):
        def on_slice(d: dt.date) -> int:
            rows = pq.read_table(tmp_path / table / f"ds={d.isoformat()}").to_pandas()
            return int(((rows.country == bot["labels"]["country"]) &
                        (rows.event_type == bot["labels"]["event_type"])).sum())
        assert 2.3 < on_slice(day) / on_slice(week_before) < 3.9, table
