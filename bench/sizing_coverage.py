"""Calibration of `mq report sizing` on a synthetic pair with known capture rates.

    PYTHONPATH=. .venv/bin/python bench/sizing_coverage.py [--seeds 500-559] [--network-seeds 600-619]

Per seed: six weeks of a pair with two platforms capturing 97% and 93%, five countries and three
event types (tests/sizing_data.py), two incident days on android with their alert. Prints how often
the 95% interval of the steady-state under-count holds the truth (the expected loss at the injected
capture on the steady-state days) for the total and each platform, and on a second store where every
country captures alike, on how many seeds some country is offered a what-if recovery (there is none).

Network part (`--network-seeds`, `none` to skip): per seed, the small demo of tests/sizing_network.py
(network monitored, the real range pull on a local Spark session, the days before the first
incident). Prints how often each monitored slice's 95% interval holds the generator's true
under-count (pooled over the slices of each grouping and over all), on how many seeds at least 95%
of the slices hold it, and on how many seeds the breakdown's top three named slices are the
injected failure modes (mq.demo.NETWORK_FAILURES).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))   # the synthetic pair the tests use

import sizing_data as sd  # noqa: E402
from metricstore import MetricStore  # noqa: E402
from sizing import read_counts, size_slices  # noqa: E402
from sizing.whatif import what_if  # noqa: E402

INCIDENT = {10: ("android", 0.5), 11: ("android", 0.5)}


def fresh_store() -> MetricStore:
    engine = sa.create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    store = MetricStore(engine)
    store.install()
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="500-559", help="FIRST-LAST, inclusive ('none': skip)")
    parser.add_argument("--network-seeds", default="600-619", help="FIRST-LAST, inclusive ('none': skip)")
    args = parser.parse_args()
    if args.seeds != "none":
        pair_coverage(*(int(x) for x in args.seeds.split("-")))
    if args.network_seeds != "none":
        network_coverage(*(int(x) for x in args.network_seeds.split("-")))


def pair_coverage(first: int, last: int) -> None:
    seeds = range(first, last + 1)
    held: dict[str, int] = {}
    offered = 0
    by_country = sd.SETTINGS.__class__(**{**sd.SETTINGS.__dict__, "groupings": ("", "platform", "country")})
    for seed in seeds:
        store = fresh_store()
        info = sd.build(store, seed=seed, incidents=INCIDENT)
        table = size_slices(read_counts(sd.SETTINGS, store, info["start"], info["end"]))
        for row in table.itertuples():
            truth = info["truth"][row.slice_key.split("=")[-1]]
            held[row.slice_key] = held.get(row.slice_key, 0) + (row.under_count_low <= truth <= row.under_count_high)
        ranked = what_if(read_counts(by_country, store, info["start"], info["end"]))
        offered += bool((ranked.grouping == "country").any())
    print(f"seeds {first}-{last} ({len(seeds)})")
    for key, n in held.items():
        print(f"  95% interval holds the truth: {key:<18} {n}/{len(seeds)} ({n / len(seeds):.0%})")
    print(f"  alike countries offered a what-if recovery: {offered}/{len(seeds)}")


def network_coverage(first: int, last: int) -> None:
    import tempfile

    import sizing_network as sn
    from mq.spark import get_spark
    from sizing import SizingSettings
    from sizing.pareto import REST, pareto

    spark = get_spark(master="local[2]", conf={"spark.sql.shuffle.partitions": "4"})
    seeds = range(first, last + 1)
    held: dict[str, list[int]] = {}
    most, top_three = 0, 0
    for seed in seeds:
        store = fresh_store()
        with tempfile.TemporaryDirectory() as folder:
            info = sn.build(spark, store, Path(folder), seed)
            counts = read_counts(SizingSettings.from_config(info["config"]), store, info["start"], info["end"])
            table = size_slices(counts)
            parts = pareto(counts)
        hits = [(row.grouping, row.under_count_low <= info["truth"][row.slice_key] <= row.under_count_high)
                for row in table.itertuples()]
        for grouping, hit in hits:
            held.setdefault(grouping or "(total)", []).append(hit)
        most += sum(h for _, h in hits) >= 0.95 * len(hits)
        named = [p.replace(" & ", "&") for p in parts[parts.part != REST].part.head(3)]
        top_three += set(named) == sn.WORST
        print(f"  seed {seed}: {sum(h for _, h in hits)}/{len(hits)} slices held; top three {named}", flush=True)
    every = [h for hits in held.values() for h in hits]
    print(f"network demo, seeds {first}-{last} ({len(seeds)})")
    for grouping, hits in [*held.items(), ("all slices", every)]:
        print(f"  95% interval holds the truth: {grouping:<22} {sum(hits)}/{len(hits)} ({sum(hits) / len(hits):.1%})")
    print(f"  seeds where >= 95% of slices hold it: {most}/{len(seeds)}")
    print(f"  seeds where the top three named slices are the injected failure modes: {top_three}/{len(seeds)}")


if __name__ == "__main__":
    main()
