"""Calibration of `mq report sizing` on a synthetic pair with known capture rates.

    PYTHONPATH=. .venv/bin/python bench/sizing_coverage.py [--seeds 500-559]

Per seed: six weeks of a pair with two platforms capturing 97% and 93%, five countries and three
event types (tests/sizing_data.py), two incident days on android with their alert. Prints how often
the 95% interval of the steady-state under-count holds the truth (the expected loss at the injected
capture on the steady-state days) for the total and each platform, and on a second store where every
country captures alike, on how many seeds some country is offered a what-if recovery (there is none).
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
    parser.add_argument("--seeds", default="500-559", help="FIRST-LAST, inclusive")
    first, last = (int(x) for x in parser.parse_args().seeds.split("-"))
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


if __name__ == "__main__":
    main()
