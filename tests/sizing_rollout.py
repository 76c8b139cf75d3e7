"""A small pair whose platforms each roll out a new app version mid-period (for the trend and rollout tests).

Leaves platform x app version. Each platform starts on one version; on ROLLOUT_DAY a new one arrives and
takes a growing share of the platform's events (ADOPTION a day, up to MAX_SHARE). Android's new version
captures 5 points less than its old one, ios's the same as its old one. The warehouse count of a
leaf-day is Poisson around its volume; the client count Binomial(warehouse, rate), where the rate is the
version's capture plus a day-to-day wobble shared by the platform's versions (`day_sd`): more spread
than binomial thinning, as real captures have. The truth of any set of days is the capture the
versions' own rates give on the realised warehouse counts (the wobble averages to zero)."""
from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd

from sizing.data import SizingSettings
from sizing_data import PAIR, CLIENT, WAREHOUSE, START, WEEKLY, record_alert

DIMS = ("platform", "app_version")
VOLUME = {"android": 1800, "ios": 1200}
OLD = {"android": ("5.0", 0.93), "ios": ("7.0", 0.97)}
NEW = {"android": ("5.1", 0.88), "ios": ("7.1", 0.97)}
ROLLOUT_DAY = 21
ADOPTION, MAX_SHARE = 0.06, 0.6
DAY_SD = 0.012

SETTINGS = SizingSettings(PAIR, CLIENT, WAREHOUSE, DIMS, ("", "platform", "platform,app_version"),
                          frozenset({"client", "warehouse"}), version_dimension="app_version")


def new_share(k: int) -> float:
    return 0.0 if k < ROLLOUT_DAY else min(MAX_SHARE, ADOPTION * (k - ROLLOUT_DAY + 1))


def build(store, days: int = 42, seed: int = 5, day_sd: float = DAY_SD, incidents: dict | None = None) -> dict:
    """Record `days` days from START; `incidents`: {day offset: (platform, version, capture that day)},
    each with the discrepancy alert the pipeline would raise. Returns {"start", "end", "days": one row per
    leaf-day (day, platform, app_version, warehouse, client, rate: the version's own capture)}."""
    rng = np.random.default_rng(seed)
    incidents = incidents or {}
    rows = []
    for k in range(days):
        day = START + dt.timedelta(days=k)
        counts = {}
        for platform, volume in VOLUME.items():
            wobble = rng.normal(0, day_sd)
            share = new_share(k)
            for (version, rate), part in ((OLD[platform], 1 - share), (NEW[platform], share)):
                if part == 0:
                    continue
                w = int(rng.poisson(volume * part * WEEKLY[day.weekday()]))
                hit = incidents.get(k)
                p = hit[2] if hit and hit[:2] == (platform, version) else min(1.0, rate + wobble)
                counts[(platform, version)] = (w, int(rng.binomial(w, p)))
                rows.append({"day": day, "platform": platform, "app_version": version, "warehouse": w,
                             "client": counts[(platform, version)][1], "rate": rate})
        for table, metric, side in (("client", CLIENT, 1), ("warehouse", WAREHOUSE, 0)):
            leaf = {key: n[side] for key, n in counts.items()}
            digest = hashlib.sha256(repr(sorted(leaf.items())).encode()).hexdigest()
            store.record_pull({"table_name": table, "partition": day, "status": "ok", "content_hash": digest,
                               "row_count": sum(leaf.values())}, slice_points(leaf, metric))
        if k in incidents:
            platform, version, _ = incidents[k]
            record_alert(store.engine, "discrepancy", PAIR, {"platform": platform, "app_version": version}, day, day)
    return {"start": START, "end": START + dt.timedelta(days=days - 1), "days": pd.DataFrame(rows)}


def slice_points(leaf_counts: dict, metric: str) -> pd.DataFrame:
    """The points of the total, each platform and each (platform, version) leaf."""
    rows = []
    for dims in ((), ("platform",), DIMS):
        sums: dict = {}
        for leaf, n in leaf_counts.items():
            key = tuple(zip(dims, (leaf[DIMS.index(d)] for d in dims)))
            sums[key] = sums.get(key, 0) + n
        for key, n in sums.items():
            rows.append({"metric": metric, "slice_key": "&".join(f"{k}={v}" for k, v in key) or "(total)",
                         "grouping": ",".join(dims), "labels": dict(key), "value": float(n)})
    return pd.DataFrame(rows)


def true_capture(days: pd.DataFrame) -> float:
    """The capture the versions' own rates give on these leaf-days' warehouse counts."""
    return float((days.warehouse * days.rate).sum() / days.warehouse.sum())
