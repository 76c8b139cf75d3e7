"""A small pair in a metric store, with a known capture rate per platform (for the sizing tests).

Leaves platform x country; the warehouse count of a leaf-day is Poisson around its volume with a
weekly pattern, the client count Binomial(warehouse, capture of the platform). Optional incidents
lower one slice's capture on some days and record the alert the pipeline would have raised."""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools

import numpy as np
import pandas as pd

from alerting import schema as alert_schema
from sizing.data import SizingSettings

PAIR, CLIENT, WAREHOUSE = "cw", "client_events", "warehouse_events"
DIMS = ("platform", "country", "event_type")
CAPTURE = {"ios": 0.97, "android": 0.93}
PLATFORMS = {"ios": 0.4, "android": 0.6}
COUNTRIES = {"US": 0.4, "IN": 0.25, "BR": 0.15, "DE": 0.1, "FR": 0.1}
EVENT_TYPES = {"page_view": 0.6, "click": 0.3, "share": 0.1}
DAILY = 3000
VOLUME = {(p, c, e): DAILY * sp * sc * se for (p, sp), (c, sc), (e, se)
          in itertools.product(PLATFORMS.items(), COUNTRIES.items(), EVENT_TYPES.items())}
WEEKLY = [1.0, 1.03, 1.04, 1.02, 0.97, 0.82, 0.78]
START = dt.date(2026, 9, 7)   # a Monday

SETTINGS = SizingSettings(PAIR, CLIENT, WAREHOUSE, DIMS, ("", "platform"),
                          frozenset({"client", "warehouse"}))


def slice_points(leaf_counts: dict, metric: str) -> pd.DataFrame:
    """The points of the total, each platform, each country and each leaf from leaf counts
    {(platform, country, event type): n}."""
    rows = []
    for dims in ((), ("platform",), ("country",), DIMS):
        sums: dict = {}
        for leaf, n in leaf_counts.items():
            key = tuple(zip(dims, (leaf[DIMS.index(d)] for d in dims)))
            sums[key] = sums.get(key, 0) + n
        for key, n in sums.items():
            labels = dict(key)
            rows.append({"metric": metric, "slice_key": "&".join(f"{k}={v}" for k, v in key) or "(total)",
                         "grouping": ",".join(dims), "labels": labels, "value": float(n)})
    return pd.DataFrame(rows)


def build(store, days: int = 42, seed: int = 1, incidents: dict | None = None,
          country_factor: dict | None = None) -> dict:
    """Record `days` days from START; `incidents`: {day offset: (platform, capture that day)};
    `country_factor`: {country: factor on its capture} (a country that loses more, on every platform).
    Returns {"start", "end", "truth": expected steady-state under-count per platform and total}."""
    rng = np.random.default_rng(seed)
    incidents = incidents or {}
    truth = {p: 0.0 for p in CAPTURE} | {"(total)": 0.0}
    for k in range(days):
        day = START + dt.timedelta(days=k)
        hit = incidents.get(k)
        warehouse, client = {}, {}
        for leaf, volume in VOLUME.items():
            w = int(rng.poisson(volume * WEEKLY[day.weekday()]))
            steady = CAPTURE[leaf[0]] * (country_factor or {}).get(leaf[1], 1.0)
            rate = hit[1] if hit and hit[0] == leaf[0] else steady
            warehouse[leaf], client[leaf] = w, int(rng.binomial(w, rate))
            # The steady-state truth of a platform leaves out only its own incident days; the total's, all.
            if not hit or hit[0] != leaf[0]:
                truth[leaf[0]] += w * (1 - steady)
            if not hit:
                truth["(total)"] += w * (1 - steady)
        for table, metric, counts in (("client", CLIENT, client), ("warehouse", WAREHOUSE, warehouse)):
            digest = hashlib.sha256(repr(sorted(counts.items())).encode()).hexdigest()
            store.record_pull({"table_name": table, "partition": day, "status": "ok", "content_hash": digest,
                               "row_count": sum(counts.values())}, slice_points(counts, metric))
        if hit:
            record_alert(store.engine, "discrepancy", PAIR, {"platform": hit[0]}, day, day)
    return {"start": START, "end": START + dt.timedelta(days=days - 1), "truth": truth}


def record_alert(engine, kind: str, subject: str, labels: dict, first: dt.date, last: dt.date,
                 table: str | None = None) -> None:
    now = dt.datetime(2026, 10, 20, tzinfo=dt.timezone.utc)
    with engine.begin() as conn:
        conn.execute(alert_schema.alerts.insert().values(
            id=f"{kind}-{subject}-{first}-{'-'.join(labels.values())}", fingerprint="f" * 16, kind=kind,
            subject=subject, labels=labels, severity="critical", status="resolved", first_partition=first,
            last_partition=last, first_fired_at=now, last_fired_at=now, message="test", table_name=table))
