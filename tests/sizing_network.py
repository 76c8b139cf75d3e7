"""A small demo warehouse with the network dimension monitored, pulled into a metric store (for the
sizing tests and bench/sizing_coverage.py).

The demo generator (mq.demo) draws the network of every event and knows each (platform, app version,
network) cell's true capture rate (`incidents.json` -> `capture`). This module generates a small
spec, pulls the days before its first incident with the real range pull (one Spark scan per table)
into a metric store, and gives every monitored slice's true steady-state under-count: the warehouse
events of each of its leaves times one minus the leaf's true capture. The incident days are left out
of the period, so every day is steady state and the truth is exact (it conditions on the reported
volume, as the report's interval does).

The client table has a completeness curve (`received_at`, D+0/1/2/7), and the generator knows each
cell's true completeness (`incidents.json` -> `arrival`): a slice's true completeness at D+k is the
mean of its leaves' truths weighted by their final client counts, and its true late count the final
client count less the events expected by the end of D+0."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import textwrap
from pathlib import Path

import pandas as pd

from mq.demo import NETWORK_FAILURES, DemoSpec, generate

PAIR = "client_vs_warehouse_events"
# Two countries and two event types keep the leaf cube small (about 130 leaves) and the pull fast.
SPEC = {"days": 56, "daily_events": 3000, "countries": 2, "event_types": 2}
SLICES = [[], ["platform"], ["network"], ["platform", "network"], ["platform", "app_version"]]
# The injected failure modes: one (platform, network) per platform that loses far more than the rest.
WORST = {f"platform={p}&network={n}" for p, n in NETWORK_FAILURES.items()}

CONFIG = """
version: 1
workdir: {dir}
dimensions: [platform, country, app_version, event_type, network]
slices: {slices}
tables:
  client_events: {{path: {dir}/client_events, partition_column: ds, timestamp_column: event_ts,
                   completeness_curve: {{column: received_at, lags_days: [0, 1, 2, 7]}}}}
  warehouse_events: {{path: {dir}/warehouse_events, partition_column: ds, timestamp_column: event_ts}}
metrics:
  client_events: {{table: client_events, expression: "COUNT(*)", detectors: [{{name: seasonal_mad}}]}}
  warehouse_events: {{table: warehouse_events, expression: "COUNT(*)", detectors: [{{name: seasonal_mad}}]}}
pairs:
  {pair}: {{client: client_events, warehouse: warehouse_events}}
"""


def build(spark, store, folder: Path, seed: int) -> dict:
    """Generate the spec with `seed` into `folder`, pull its clean days into `store`.

    Returns {"config", "start", "end", "truth": {slice_key: true under-count}, "capture": generator's
    per-cell truth, "completeness": {slice_key: {lag: true completeness}}, "late": {slice_key: true late}}."""
    from mq.config import load_config
    from pulls.pull import pull_range
    from pulls.tables import register_tables

    folder = Path(folder)
    truth = generate(folder, DemoSpec(**SPEC, seed=seed))
    start = dt.date.fromisoformat(truth["spec"]["start"])
    end = min(dt.date.fromisoformat(i["start"]) for i in truth["incidents"]) - dt.timedelta(days=1)
    # Only the clean days are pulled: the later partitions go, so Spark lists half the files.
    for table in ("client_events", "warehouse_events"):
        for part in (folder / table).glob("ds=*"):
            if dt.date.fromisoformat(part.name[3:]) > end:
                shutil.rmtree(part)
    path = folder / "mq.yml"
    path.write_text(textwrap.dedent(CONFIG.format(dir=folder, slices=json.dumps(SLICES), pair=PAIR)))
    config = load_config(path)
    register_tables(spark, config)
    for table in ("client_events", "warehouse_events"):
        for result in pull_range(spark, config, table, start, end):
            store.record_pull(result.evidence, result.points)
    leaves = store.points(["warehouse_events"], start, end,
                          groupings=[",".join(config.metric_dimensions("warehouse_events"))])
    client = store.points(["client_events"], start, end,
                          groupings=[",".join(config.metric_dimensions("client_events"))])
    completeness, late = true_completeness(client, truth["arrival"])
    return {"config": config, "start": start, "end": end, "capture": truth["capture"],
            "truth": true_under_count(leaves, truth["capture"]), "completeness": completeness, "late": late}


def true_under_count(leaves: pd.DataFrame, capture: list[dict]) -> dict[str, float]:
    """Monitored slice -> sum over its leaves of warehouse x (1 - the leaf's true capture)."""
    rate = {(c["platform"], c["app_version"], c["network"]): c["capture"] for c in capture}
    out: dict[str, float] = {}
    for labels, value in zip(leaves.labels, leaves.value):
        lost = value * (1 - rate[(labels["platform"], labels["app_version"], labels["network"])])
        for dims in SLICES:
            key = "&".join(f"{d}={labels[d]}" for d in dims) or "(total)"
            out[key] = out.get(key, 0.0) + lost
    return out


def true_completeness(leaves: pd.DataFrame, arrival: list[dict]) -> tuple[dict, dict]:
    """({slice_key: {lag: true completeness}}, {slice_key: true late events}) from the leaves' final client
    counts and each cell's true share arrived by D+k."""
    cells = {(c["platform"], c["app_version"], c["network"]): c for c in arrival}
    lags = [int(k[1:]) for k in arrival[0] if k.startswith("d")]
    final: dict[str, float] = {}
    arrived: dict[str, dict[int, float]] = {}
    for labels, value in zip(leaves.labels, leaves.value):
        cell = cells[(labels["platform"], labels["app_version"], labels["network"])]
        for dims in SLICES:
            key = "&".join(f"{d}={labels[d]}" for d in dims) or "(total)"
            final[key] = final.get(key, 0.0) + value
            for k in lags:
                arrived.setdefault(key, {}).setdefault(k, 0.0)
                arrived[key][k] += value * cell[f"d{k}"]
    return ({key: {k: arrived[key][k] / final[key] for k in lags} for key in final},
            {key: final[key] - arrived[key][0] for key in final})
