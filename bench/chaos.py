"""Chaos run of the alert path on the demo: random kills, Slack faults and database faults over a
bounded number of rounds; prints lost and duplicated messages and the ledger's status.

    .venv/bin/python bench/chaos.py [--rounds 8] [--seed 1 [2 ...]] [--store sqlite|postgresql]

1. A small demo warehouse is generated and pulled, validated and scored once (Spark; cached in
   bench/out/chaos/). Its store is copied for the baseline and for each seed: SQLite files, or fresh
   PostgreSQL databases on the local server (127.0.0.1:5432, database `test` for administration;
   `MQ_TEST_PG_URL` to change it), created from the prepared one and dropped at the end.
2. Baseline: one clean service run alerts and delivers every day to a local Slack-compatible server.
3. Chaos: the service is started `--rounds` times on the other copy, each round with random faults:
   a SIGKILL at a random write of the alert path (MQ_CRASH_AT), Slack answering 500 / 429 / an error
   for some calls, and another session holding a write lock on an alert-path table (PostgreSQL) or on
   the database (SQLite) from before the round starts until it ends, longer than the lock timeout the
   service is given (MQ_DB_LOCK_TIMEOUT_S=2): the round fails on it, and the next one recovers. A last
   round runs without faults, then `deliver --now`. With several seeds, each gets its own copy.
4. Messages Slack received in (3) against (2): lost = expected but never posted, duplicated = posted
   more often than in the baseline. Then `mq ledger verify` (signatures + latest anchor).
Target: 0 lost / 0 duplicated / verified.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
OUT = REPO / "bench" / "out" / "chaos"
CONFIG = REPO / "config" / "demo.yml"
LEDGER_KEY = "q0cHhfb9r0oS6E2oTQm1P3b6bq8mW0lq5m3Gk3h2ZcU="   # a fixed demo key: both runs sign alike
ALERT_TABLES = ("mq_alert_decisions", "mq_alerts", "mq_outbox", "mq_ledger")


def worker(mode: str, days: int, daily_events: int, seed: int, until: int | None = None) -> None:
    """Inside a service process: `prepare` (pull, validate, detect) or `alert` (alert + deliver)."""
    from mq.config import load_config
    from mq.demo import DemoSpec
    from mq.pipeline import Pipeline
    from mq.stages.pull import run_range_pulls

    spec = DemoSpec(days=days, daily_events=daily_events, seed=seed)
    pipe = Pipeline(load_config(CONFIG))
    if mode == "prepare":
        run_range_pulls(pipe, spec.dates[0], spec.dates[-1])
        for day in spec.dates:
            pipe.validate(day)
            pipe.detect(day)
        return
    for day in spec.dates[:until]:
        pipe.alert(day)
        pipe.deliver()
    if mode == "alert-final":
        pipe.outbox.make_due()
        pipe.deliver()
        pipe.anchor_ledger()


def run_worker(mode: str, args, env: dict, timeout: float = 1800, until: int | None = None
               ) -> subprocess.CompletedProcess:
    cmd = [sys.executable, __file__, "--worker", mode, "--days", str(args.days),
           "--daily-events", str(args.daily_events)]
    cmd += ["--until", str(until)] if until else []
    return subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)


def base_env(url: str, anchors: Path, slack=None) -> dict:
    env = {"PYTHONPATH": str(REPO), "MQ_DEMO_DIR": str(OUT / "work"), "MQ_STATE_URL": url,
           "MQ_LEDGER_KEY": LEDGER_KEY, "MQ_LEDGER_ANCHOR_DIR": str(anchors), "MQ_DB_LOCK_TIMEOUT_S": "2",
           "MQ_CRASH_AT": ""}
    if slack is not None:
        env.update(MQ_RECEIVER="slack", MQ_SLACK_TOKEN=slack.token, MQ_SLACK_BASE_URL=slack.api_url,
                   MQ_SLACK_CHANNEL="C0CHAOS")
    return env


class Stores:
    """Copies of the prepared store, on SQLite files or PostgreSQL databases (dropped at the end)."""

    def __init__(self, kind: str) -> None:
        self.kind, self.created = kind, []
        self.admin_url = os.environ.get("MQ_TEST_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")

    def new(self, name: str, template: str | None = None) -> str:
        if self.kind == "sqlite":
            path = OUT / f"{name}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
                if template and Path(f"{template}{suffix}").exists():
                    shutil.copy(f"{template}{suffix}", f"{path}{suffix}")
            return f"sqlite:///{path}"
        import sqlalchemy as sa

        db = f"mq_chaos_{name}_{uuid.uuid4().hex[:6]}"
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{db}"' + (f' TEMPLATE "{template}"' if template else ""))
        engine.dispose()
        self.created.append(db)
        return self.admin_url.rsplit("/", 1)[0] + f"/{db}"

    def template_of(self, url: str) -> str:
        return url.removeprefix("sqlite:///") if self.kind == "sqlite" else url.rsplit("/", 1)[1]

    def drop_all(self) -> None:
        if self.kind != "postgresql" or not self.created:
            return
        import sqlalchemy as sa

        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for db in self.created:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        engine.dispose()


@contextlib.contextmanager
def held_lock(url: str, table: str):
    """Another session holding a write lock on `table` (on SQLite: the database) while the block runs.

    Taken before the service starts and kept until it exits, so it outlasts the service's lock
    timeout whatever the service's pace: its first write there fails the round (a lock held for a few
    seconds at a random moment mostly fell between the service's statements and failed nothing)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if url.startswith("sqlite"):
                conn.exec_driver_sql("BEGIN EXCLUSIVE")
            else:
                conn.exec_driver_sql("BEGIN")
                conn.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            try:
                yield
            finally:
                conn.exec_driver_sql("ROLLBACK")
    finally:
        engine.dispose()


def posted(server) -> collections.Counter:
    """Messages Slack received: thread-root text + own text (same text in another thread is another)."""
    by_ts = dict(server.messages)
    work = str(OUT / "work")
    keys = []
    for msg in by_ts.values():
        parent = by_ts.get(msg["thread_ts"], {}).get("text") if msg["thread_ts"] else None
        keys.append(json.dumps([parent, msg["text"]]).replace(work, "<work>"))
    return collections.Counter(keys)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8, help="faulty service starts before the clean one")
    parser.add_argument("--seed", type=int, nargs="+", default=[1],
                        help="seed(s) of the faults (the demo keeps its own); several share one prepared store")
    parser.add_argument("--days", type=int, default=56)
    parser.add_argument("--daily-events", type=int, default=4000)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--until", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.days, args.daily_events, 11, args.until)
        return 0

    from slack_server import running_slack_server

    from mq.demo import DemoSpec, generate

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "work").mkdir(exist_ok=True)
    tag = f"d{args.days}-e{args.daily_events}"
    warehouse = OUT / "work" / "warehouse"
    if not (OUT / f"warehouse-{tag}.ok").exists():
        shutil.rmtree(warehouse, ignore_errors=True)
        generate(warehouse, DemoSpec(days=args.days, daily_events=args.daily_events, seed=11))
        (OUT / f"warehouse-{tag}.ok").touch()
    stores = Stores(args.store)
    t0 = time.perf_counter()
    try:
        prepared = stores.new(f"prepared_{tag}") if args.store == "postgresql" or not (
            OUT / f"prepared_{tag}.done").exists() else f"sqlite:///{OUT / f'prepared_{tag}.db'}"
        if args.store == "postgresql" or not (OUT / f"prepared_{tag}.done").exists():
            proc = run_worker("prepare", args, base_env(prepared, OUT / f"anchors-{args.store}-prep"))
            if proc.returncode:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            if args.store == "sqlite":
                (OUT / f"prepared_{tag}.done").touch()
        print(f"prepared the demo store ({args.days} days) in {time.perf_counter() - t0:.0f} s")

        shutil.rmtree(OUT / f"anchors-{args.store}-clean", ignore_errors=True)
        clean_url = stores.new("clean", stores.template_of(prepared))
        with running_slack_server() as slack:
            proc = run_worker("alert-final", args, base_env(clean_url, OUT / f"anchors-{args.store}-clean", slack))
            if proc.returncode:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            expected = posted(slack)
        print(f"baseline: {sum(expected.values())} messages")

        failed = 0
        for seed in args.seed:
            failed += chaos(args, seed, stores.new(f"chaos{seed}", stores.template_of(prepared)), expected)
        print(f"total {time.perf_counter() - t0:.0f} s")
        return 1 if failed else 0
    finally:
        stores.drop_all()


def chaos(args, seed: int, chaos_url: str, expected: collections.Counter) -> int:
    """The faulty rounds of one seed on its own copy of the store; 0 when nothing was lost or
    duplicated and the ledger verifies."""
    from slack_server import running_slack_server

    rng = random.Random(seed)
    anchors = OUT / f"anchors-{args.store}-chaos{seed}"
    shutil.rmtree(anchors, ignore_errors=True)
    kills = slack_faults = db_faults = lock_failures = 0
    with running_slack_server() as slack:
        for round_no in range(1, args.rounds + 2):
            final = round_no == args.rounds + 1
            env = base_env(chaos_url, anchors, slack)
            faults, locked = [], None
            if not final:
                if rng.random() < 0.7:
                    env["MQ_CRASH_AT"] = f"*:{rng.randint(1, 120)}"
                    faults.append(f"kill at write {env['MQ_CRASH_AT'][2:]}")
                if rng.random() < 0.6:
                    status = rng.choice([500, 503, 429])
                    slack.fail_next("chat.postMessage", status=status, times=rng.randint(1, 3),
                                    retry_after=rng.choice([1, 30]) if status == 429 else None)
                    faults.append(f"slack {status}")
                    slack_faults += 1
                if rng.random() < 0.4:
                    locked = rng.choice(ALERT_TABLES)
                    faults.append(f"lock on {locked if args.store == 'postgresql' else 'the database'}")
                    db_faults += 1
            # like a daily schedule: each round's service reaches a later day (a killed one resumes)
            until = None if final else max(1, args.days * round_no // (args.rounds + 1))
            with held_lock(chaos_url, locked) if locked else contextlib.nullcontext():
                proc = run_worker("alert-final" if final else "alert", args, env, until=until)
            killed = proc.returncode == -9
            kills += killed
            lock_failures += bool(locked) and proc.returncode not in (0, -9)
            outcome = "killed" if killed else ("ok" if proc.returncode == 0 else
                                               f"failed: {_last_line(proc.stderr)}")
            print(f"seed {seed} round {round_no:2d} (days 1..{until or args.days}): "
                  f"{', '.join(faults) or 'no faults':58s} -> {outcome}")
            time.sleep(0.5)
        got = posted(slack)
    lost = sum((expected - got).values())
    duplicated = sum((got - expected).values())
    env = base_env(chaos_url, anchors)
    verify = subprocess.run([sys.executable, "-c", "from mq.cli import main; raise SystemExit(main())",
                             "--config", str(CONFIG), "ledger", "verify"], env={**os.environ, **env},
                            capture_output=True, text=True, timeout=600)
    status = "verified" if verify.returncode == 0 else f"BROKEN: {_last_line(verify.stderr)}"
    print(f"\nseed {seed}: {args.rounds} faulty rounds ({kills} killed, {slack_faults} with Slack faults, "
          f"{db_faults} with a database lock, {lock_failures} of them failed on it) + 1 clean, store {args.store}")
    print(f"seed {seed}: messages expected {sum(expected.values())}, received {sum(got.values())}")
    print(f"seed {seed}: lost {lost} / duplicated {duplicated} / ledger {status}   (target 0 / 0 / verified)\n")
    return 0 if (lost, duplicated) == (0, 0) and verify.returncode == 0 else 1


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else "?"


if __name__ == "__main__":
    sys.exit(main())
