"""The demo warehouse: two Hive-partitioned Parquet event tables with known incidents.

`client_events` holds what apps and web logged; `warehouse_events` what the backend saw. Every client
event is also a warehouse event (same `event_id`), captured with a probability below 1 that differs by
platform, so client/warehouse is a ratio a little under 1 per slice. Daily volume has a trend, weekly
seasonality and Poisson noise. Injected incidents (written to `incidents.json` as ground truth):

- client logging loss in one slice (android, app 10.3) for two days;
- a duplicated warehouse load (one file of the partition loaded twice);
- a missing warehouse partition;
- a null spike in client `user_id`;
- a public holiday with low traffic on both sides (must NOT alert: it is in the calendar).

Generation is numpy + pyarrow, one partition at a time, so memory stays flat at any size.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

PLATFORMS = {"ios": 0.36, "android": 0.46, "web": 0.18}
CAPTURE = {"ios": 0.965, "android": 0.935, "web": 0.895}   # client capture rate by platform
APP_VERSIONS = {"10.0": 0.10, "10.1": 0.15, "10.2": 0.25, "10.3": 0.30, "10.4": 0.20}
COUNTRIES = {"US": 0.30, "IN": 0.20, "BR": 0.12, "DE": 0.09, "JP": 0.08, "GB": 0.08, "FR": 0.07, "MX": 0.06}
EVENT_TYPES = {"page_view": 0.55, "click": 0.30, "share": 0.07, "purchase": 0.05, "signup": 0.03}
WEEKLY = [1.00, 1.03, 1.04, 1.02, 0.97, 0.82, 0.78]            # Monday .. Sunday
DIMENSIONS = ["platform", "country", "app_version", "event_type"]


@dataclass(frozen=True)
class Incident:
    id: str
    kind: str
    start: str
    end: str
    table: str
    labels: dict[str, str] = field(default_factory=dict)
    should_alert: bool = True
    description: str = ""


@dataclass(frozen=True)
class DemoSpec:
    # The incidents sit at fixed offsets from `end`, so the holiday in config/demo.yml (2026-10-05)
    # stays right whatever `days` is.
    end: dt.date = dt.date(2026, 10, 11)
    days: int = 70
    daily_events: int = 20_000                # warehouse events per day before trend/seasonality
    seed: int = 7

    @property
    def start(self) -> dt.date:
        return self.end - dt.timedelta(days=self.days - 1)

    @property
    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]

    def day(self, offset: int) -> dt.date:
        return self.start + dt.timedelta(days=offset if offset >= 0 else self.days + offset)


def plan_incidents(spec: DemoSpec) -> list[Incident]:
    """Place the incidents in the last weeks, after enough history for the detectors."""
    if spec.days < 56:
        raise ValueError(f"the demo needs at least 56 days (6 weeks of history + incidents), got {spec.days}")
    d = lambda off: spec.day(off).isoformat()  # noqa: E731 - a tiny local helper
    return [
        Incident("logging-loss", "client_logging_loss", d(-25), d(-24), "client_events",
                 {"platform": "android", "app_version": "10.3"},
                 description="android app 10.3 stops sending half of its events (client SDK bug)"),
        Incident("duplicate-load", "duplicate_load", d(-20), d(-20), "warehouse_events",
                 description="one file of the warehouse partition was loaded twice"),
        Incident("missing-partition", "missing_partition", d(-16), d(-16), "warehouse_events",
                 description="the warehouse partition never landed"),
        Incident("null-spike", "null_spike", d(-12), d(-12), "client_events",
                 {"column": "user_id"}, description="a quarter of client events lost their user_id"),
        Incident("holiday", "holiday", d(-7), d(-7), "both", should_alert=False,
                 description="public holiday: traffic is low on both sides; in the calendar, must not alert"),
    ]


def _leaf_table() -> tuple[list[tuple[str, str, str, str]], np.ndarray]:
    leaves, probs = [], []
    for platform, p_platform in PLATFORMS.items():
        versions = {"web": 1.0} if platform == "web" else APP_VERSIONS
        for version, p_version in versions.items():
            for country, p_country in COUNTRIES.items():
                for event_type, p_type in EVENT_TYPES.items():
                    leaves.append((platform, country, version, event_type))
                    probs.append(p_platform * p_version * p_country * p_type)
    return leaves, np.asarray(probs) / np.sum(probs)


def _write(table: pa.Table, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)


def generate(out_dir: str | Path, spec: DemoSpec = DemoSpec(), progress=None) -> dict:
    """Write `<out>/client_events`, `<out>/warehouse_events` and `<out>/incidents.json`."""
    out = Path(out_dir)
    for table in ("client_events", "warehouse_events"):
        shutil.rmtree(out / table, ignore_errors=True)
    rng = np.random.default_rng(spec.seed)
    leaves, probs = _leaf_table()
    leaf_cols = [np.array([leaf[i] for leaf in leaves]) for i in range(4)]
    capture = np.array([CAPTURE[leaf[0]] for leaf in leaves])
    incidents = plan_incidents(spec)
    by_kind = {inc.kind: inc for inc in incidents}
    loss = by_kind["client_logging_loss"]
    loss_mask = (leaf_cols[0] == "android") & (leaf_cols[2] == "10.3")
    rows = {"client_events": 0, "warehouse_events": 0}

    for i, day in enumerate(spec.dates):
        iso = day.isoformat()
        volume = spec.daily_events * (1 + 0.0015 * i) * WEEKLY[day.weekday()]
        if iso == by_kind["holiday"].start:
            volume *= 0.55
        counts = rng.poisson(volume * probs)
        n = int(counts.sum())
        # Shuffled, as events arrive: a file of the partition holds a mix of every slice.
        leaf_index = rng.permutation(np.repeat(np.arange(len(leaves)), counts))
        day_start = np.datetime64(iso, "us")
        # Diurnal shape: more events in the afternoon (a triangular draw peaking at 15:00).
        seconds = rng.triangular(0, 15 * 3600, 86_400 - 1, size=n).astype("int64")
        event_ts = day_start + seconds.astype("timedelta64[s]")
        event_id = np.char.add(f"{iso.replace('-', '')}-", np.arange(n).astype(str))
        user_id = np.char.add("u", rng.integers(0, 400_000, size=n).astype(str)).astype(object)

        p_capture = capture[leaf_index]
        if loss.start <= iso <= loss.end:
            p_capture = np.where(loss_mask[leaf_index], p_capture * 0.5, p_capture)
        captured = rng.random(n) < p_capture

        columns = {
            "event_id": event_id, "event_ts": event_ts,
            "event_type": leaf_cols[3][leaf_index], "platform": leaf_cols[0][leaf_index],
            "country": leaf_cols[1][leaf_index], "app_version": leaf_cols[2][leaf_index],
            "user_id": user_id,
        }
        warehouse = pa.table({k: pa.array(v) for k, v in columns.items()})
        client_user = user_id[captured].copy()
        if iso == by_kind["null_spike"].start:
            client_user[rng.random(client_user.size) < 0.25] = None
        client = pa.table({k: pa.array(client_user if k == "user_id" else v[captured])
                           for k, v in columns.items()})

        _write(client, out / "client_events" / f"ds={iso}", "part-0.parquet")
        rows["client_events"] += client.num_rows
        if iso != by_kind["missing_partition"].start:
            _write(warehouse, out / "warehouse_events" / f"ds={iso}", "part-0.parquet")
            rows["warehouse_events"] += warehouse.num_rows
        if iso == by_kind["duplicate_load"].start:
            again = warehouse.slice(0, warehouse.num_rows // 4)   # one of four files, loaded twice
            _write(again, out / "warehouse_events" / f"ds={iso}", "part-1.parquet")
            rows["warehouse_events"] += again.num_rows
        if progress:
            progress(1)

    truth = {"spec": {**asdict(spec), "start": spec.start.isoformat(), "end": spec.end.isoformat()},
             "dimensions": DIMENSIONS, "rows": rows,
             "incidents": [asdict(inc) for inc in incidents]}
    (out / "incidents.json").write_text(json.dumps(truth, indent=2))
    return truth
