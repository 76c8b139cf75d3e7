"""A small alert-path scenario for crash tests: findings seeded in the store, no Spark needed.

Day 1: the total count of `events` is anomalous (a new incident).
Day 2: the `events` partition is missing (freshness) while the count anomaly continues.
Day 3: everything is clean again (both incidents resolve in their threads).
"""
from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
from pathlib import Path

import sqlalchemy as sa

# Imported here, in the parent, so every forked attempt starts warm (imports are most of a cold start).
import alembic.command  # noqa: F401
import mq.charts  # noqa: F401
import mq.pipeline  # noqa: F401
import mq.receivers  # noqa: F401

DAYS = [dt.date(2026, 9, 1) + dt.timedelta(days=i) for i in range(3)]

CONFIG = """
version: 1
workdir: {workdir}
dimensions: [platform]
slices: [[], [platform]]
tables:
  events: {{path: {workdir}/warehouse/events, owner: data-eng}}
metrics:
  events: {{table: events, detectors: [{{name: seasonal_mad}}]}}
alerting:
  receivers: [{{name: local, file: {workdir}/sink.jsonl}}]
"""


def write_config(workdir: Path) -> Path:
    path = workdir / "mq.yml"
    path.write_text(CONFIG.format(workdir=workdir))
    return path


def seed(pipe) -> None:
    """The findings of every day, as the pull and detect stages would have stored them."""
    from pulls import slice_key

    for day in DAYS:
        missing = day == DAYS[1]
        pipe.store.record_pull({"table_name": "events", "partition": day, "status": "missing" if missing else "ok",
                                "row_count": 0 if missing else 1000, "content_hash": f"h{day}"}, None)
        rows = []
        for labels in ({}, {"platform": "ios"}):
            bad = day != DAYS[2] and not labels
            rows.append({"slice_key": slice_key(labels), "detector": "seasonal_mad", "labels": labels,
                         "status": "anomaly" if bad else "ok", "observed": 600.0 if bad else 1000.0,
                         "expected": 1000.0, "lower": 900.0, "upper": 1100.0, "score": 5.0 if bad else 0.1,
                         "p_value": 1e-6 if bad else 0.5, "q_value": 1e-5 if bad else 0.5,
                         "direction": "low" if bad else None, "run_id": "seed"})
        pipe.store.save_detections("events", day, rows)


def run_days(config_path: str, url: str) -> None:
    """What a scheduled service does every day: decide and queue, then deliver."""
    from mq.config import load_config
    from mq.pipeline import Pipeline

    pipe = Pipeline(load_config(config_path), state_url=url)
    for day in DAYS:
        pipe.alert(day)
        pipe.deliver()


def _child(config_path: str, url: str, crash_at: str | None, seed_only: bool) -> None:
    from metricstore import make_engine
    from mq import faults

    make_engine.cache_clear()        # never reuse the parent's pooled connections after fork
    faults.reset()
    if crash_at:
        os.environ["MQ_CRASH_AT"] = crash_at
    else:
        os.environ.pop("MQ_CRASH_AT", None)
    if seed_only:
        from mq.config import load_config
        from mq.pipeline import Pipeline

        seed(Pipeline(load_config(config_path), state_url=url))
        return
    run_days(config_path, url)


def run_in_process(config_path: Path, url: str, crash_at: str | None = None, seed_only: bool = False) -> int:
    """Run the days in a forked process (killed for real at `crash_at`); its exit code (-9 = killed)."""
    proc = multiprocessing.get_context("fork").Process(target=_child, args=(str(config_path), url, crash_at,
                                                                            seed_only))
    proc.start()
    proc.join(120)
    return proc.exitcode


def final_messages(workdir: Path, url: str) -> dict:
    """What reached people (the sink, in order) and what the outbox holds, with per-run noise removed."""
    from alerting.outbox import outbox_table

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(outbox_table.c.receiver, outbox_table.c.key, outbox_table.c.title,
                                      outbox_table.c.status).order_by(outbox_table.c.key)).all()
    engine.dispose()
    sink = workdir / "sink.jsonl"
    # each attempt has its own workdir, which the report link names
    text = sink.read_text().replace(str(workdir), "<workdir>") if sink.exists() else ""
    sent = [json.loads(line) for line in text.splitlines()]
    return {"outbox": [tuple(r) for r in rows],
            "sent": [(m["thread_ref"], m["text"], json.dumps(m["notification"], sort_keys=True)) for m in sent]}
