"""Shared fixtures: one SparkSession per test run, the small demo warehouse generated and backfilled once per
run (each module works on its own copy), a fresh SQLite file and a fresh PostgreSQL database
per test, empty or already migrated (PostgreSQL at 127.0.0.1:5432, trust auth; `.ci/run` starts it
if it is down)."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_BENCH = REPO.parent / "shared" / "bench"
PG_ADMIN_URL = os.environ.get("MQ_TEST_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")

os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# Every JVM the tests start (the session's Spark driver, and those of subprocesses: Airflow tasks, the
# Spark Connect server) runs thousands of small jobs on a few thousand rows, then exits. For that, the
# JIT's optimising tier and the parallel collector cost more CPU than they save: the client compiler
# only and the serial collector cut the driver's CPU per small validation by more than half.
# `spark-submit` adds SPARK_SUBMIT_OPTS to the driver's command line.
os.environ.setdefault("SPARK_SUBMIT_OPTS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
# Every state store of the tests is thrown away after it: a commit need not survive a power loss, so
# SQLite syncs at checkpoints, not at each of the thousands of commits (metricstore/engine.py).
os.environ.setdefault("MQ_SQLITE_SYNCHRONOUS", "NORMAL")


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test run (starting one costs ~8 s on 2 cores).

    Adaptive query execution is off: it re-plans a query at each stage boundary from the sizes seen so
    far, which pays on big shuffles and not on the tests' thousands of jobs over a few thousand rows
    (a demo partition's validation took 13% less wall time without it, same results)."""
    from mq.spark import get_spark

    session = get_spark(master="local[2]", conf={"spark.sql.shuffle.partitions": "4",
                                                 "spark.sql.adaptive.enabled": "false"})
    yield session


def migrated(url_or_engine):
    """The state store's engine with every migration applied (every table: what `mq` does on start)."""
    import sqlalchemy as sa

    from metricstore.store import migrate

    engine = sa.create_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    migrate(engine)
    return engine


# One client and one warehouse table, a count metric on each, and the pair between them: the smallest
# config the pair-level tests need (prefix it with `version: 1` and any other section).
PAIR_CONFIG = """
tables:
  client: {path: /data/client}
  warehouse: {path: /data/warehouse}
metrics:
  client_events: {table: client, detectors: [{name: seasonal_mad}]}
  warehouse_events: {table: warehouse, detectors: [{name: seasonal_mad}]}
pairs:
  client_vs_warehouse: {client: client_events, warehouse: warehouse_events}
"""


def config_from_yaml(folder: Path, text: str):
    """A config loaded from YAML text, written to `<folder>/mq.yml` and read as a user's file is."""
    import textwrap

    from mq.config import load_config

    path = folder / "mq.yml"
    path.write_text(textwrap.dedent(text))
    return load_config(path)


@pytest.fixture
def memory_engine():
    """An in-memory SQLite database shared by every connection of the test (one StaticPool connection)."""
    import sqlalchemy as sa
    from sqlalchemy.pool import StaticPool

    engine = sa.create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    yield engine
    engine.dispose()


@pytest.fixture
def stores(memory_engine):
    """(metric store, ledger) with their tables, on the in-memory database."""
    from ledger import Ledger
    from metricstore import MetricStore

    store, ledger = MetricStore(memory_engine), Ledger(memory_engine)
    store.install()
    ledger.install()
    return store, ledger


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


def _sqlalchemy_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _migrate_without_a_pool(url: str) -> None:
    """Apply every migration (`metricstore.store.migrate`) and leave no connection open: a template
    is copied only while nobody is connected to it."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    from metricstore.store import migrate

    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        migrate(engine)
    finally:
        engine.dispose()


@contextlib.contextmanager
def _pg_database(prefix: str = "mq_test", template: str | None = None):
    """The name of a new PostgreSQL database (a copy of `template` if given), dropped on exit."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    except Exception as exc:  # pragma: no cover - environment problem, not a test result
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}")
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def pg_url():
    """A brand-new PostgreSQL database for this test, dropped afterwards."""
    with _pg_database() as name:
        yield _sqlalchemy_url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """Run a test once against SQLite and once against PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def pg_template():
    """The name of a PostgreSQL database migrated once per run with `metricstore.store.migrate`: the
    template `migrated_pg_url` copies. No connection stays open on it (PostgreSQL copies a database only
    while nobody is connected to it); dropped at the end of the run."""
    with _pg_database("mq_template") as name:
        _migrate_without_a_pool(_sqlalchemy_url(name))
        yield name


@pytest.fixture
def migrated_pg_url(pg_template):
    """A new PostgreSQL database for this test with every migration applied (a copy of `pg_template`:
    about a tenth of the cost of migrating an empty one), dropped afterwards. Tests of migrating an
    empty database take `pg_url`."""
    with _pg_database(template=pg_template) as name:
        yield _sqlalchemy_url(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated once per run with `metricstore.store.migrate`, which `migrated_store_url`
    copies (a file copy costs well under a millisecond, migrating an empty file tens of them)."""
    path = tmp_path_factory.mktemp("sqlite_template") / "state.db"
    _migrate_without_a_pool(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_store_url(request, tmp_path) -> str:
    """As `store_url` (once against SQLite, once against PostgreSQL), the database already migrated: for
    tests whose subject is not migrating an empty store. Migrating it again applies nothing."""
    if request.param == "sqlite":
        path = tmp_path / "state.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("migrated_pg_url")


@pytest.fixture
def shared_bench() -> Path:
    """`../shared/bench` beside the repo; skip with a reason where a user's clone doesn't have it."""
    if not SHARED_BENCH.is_dir():
        pytest.skip(f"benchmark data not found at {SHARED_BENCH} (it lives beside the repo, not in it)")
    return SHARED_BENCH


# A small demo warehouse, generated once per test run: 56 days x ~4k events a day and side.
SMALL_DEMO = {"days": 56, "daily_events": 4000, "seed": 11}
DEMO_CONFIG = REPO / "config" / "demo.yml"


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory):
    """(folder, ground truth) of a small demo warehouse shared by every test of the run."""
    from mq.demo import DemoSpec, generate

    out = tmp_path_factory.mktemp("demo") / "warehouse"
    truth = generate(out, DemoSpec(**SMALL_DEMO))
    return out, truth


@pytest.fixture
def demo_env(demo_warehouse, tmp_path, monkeypatch):
    """config/demo.yml pointed at the shared demo warehouse, with this test's own state and sinks.

    Returns the workdir (tmp_path): state.db, alerts/ and report/ land there.
    """
    (tmp_path / "warehouse").symlink_to(demo_warehouse[0], target_is_directory=True)
    monkeypatch.setenv("MQ_DEMO_DIR", str(tmp_path))
    monkeypatch.delenv("MQ_STATE_URL", raising=False)
    monkeypatch.delenv("MQ_RECEIVER", raising=False)
    return tmp_path


# One cheap expectation per table; the client side's catches the demo's null spike. For tests about what
# the pipeline does with checks' outcomes (runs, alerts, controls), not about the suites: on Spark a
# full suite costs about four times as much per partition.
LIGHT_SUITES = {"client_events": {"expect_column_values_to_not_be_null": {"column": "user_id", "mostly": 0.98}},
                "warehouse_events": {"expect_column_values_to_not_be_null": {"column": "event_id"}}}


# The expectations of the demo suites (checks/suites/) that the small demo's incidents fail: the null
# spike fails the client's user_id check, the duplicate load the warehouse's event_id uniqueness; every
# other expectation passes on every day of it. The shared backfill runs these alone, so it raises every
# alert the full suites raise there at a third of their cost (the suites themselves are tested in
# test_checks_validate.py, and the full demo in test_readme_demo.py).
TRIPPED_SUITES = {"client_events": {"expect_column_values_to_not_be_null": {"column": "user_id", "mostly": 0.98}},
                  "warehouse_events": {"expect_column_values_to_be_unique": {"column": "event_id"}}}


def light_demo_config(folder: Path, slices: list[list[str]] | None = None, suites: dict = LIGHT_SUITES) -> Path:
    """config/demo.yml with one expectation per table (`suites`: LIGHT_SUITES unless given) and only
    `slices`, if given, written into `folder`."""
    import yaml

    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    if slices is not None:
        raw["slices"] = slices
        for pair in raw["pairs"].values():   # a version dimension must be monitored (core/config.py)
            if not any(pair.get("version_dimension") in s for s in slices):
                pair.pop("version_dimension", None)
    for table, expectation in suites.items():
        suite = folder / f"{table}.yml"
        suite.write_text(yaml.safe_dump({"table": table, "expectations": [expectation]}))
        raw["tables"][table]["suite"] = str(suite)
    path = folder / "mq.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def demo_config(demo_env):
    from mq.config import load_config

    return load_config(DEMO_CONFIG)


def _point(link: Path, folder: Path) -> Path:
    """Make `link` a symlink to `folder` (replacing what it pointed at) and return `link`."""
    tmp = link.with_name(link.name + ".new")
    tmp.symlink_to(folder, target_is_directory=True)
    os.replace(tmp, link)
    return link


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory) -> Path:
    """The one $MQ_DEMO_DIR of the backfilled demo and of every module's copy of it: a symlink, pointed
    at the folder in use. The config's paths are text (`${MQ_DEMO_DIR}/...`), so a copy has the effective
    config (its content hash) of the backfill: to the pipeline it is the folder it ran in, not a moved one
    whose config changed."""
    return tmp_path_factory.mktemp("demo_home") / "demo"


@pytest.fixture(scope="session")
def shared_demo_config(tmp_path_factory) -> Path:
    """The config of the shared backfill and of every module's copy of it (and of their CLI calls,
    through $MQ_CONFIG): config/demo.yml with TRIPPED_SUITES."""
    return light_demo_config(tmp_path_factory.mktemp("shared_demo_config"), suites=TRIPPED_SUITES)


@pytest.fixture(scope="session")
def backfilled_demo(demo_warehouse, demo_home, shared_demo_config, spark, tmp_path_factory):
    """(ground truth, folder, (start, end)) of the small demo after a full backfill into SQLite.

    The backfill takes minutes, so it runs once per test run; tests use `worked_demo`, a copy of it.
    The config is the demo's with TRIPPED_SUITES: `shared_demo_config`."""
    from mq.config import load_config
    from mq.pipeline import Pipeline

    built = tmp_path_factory.mktemp("backfilled_demo")
    shutil.copytree(demo_warehouse[0], built / "warehouse")
    spec = demo_warehouse[1]["spec"]
    start, end = dt.date.fromisoformat(spec["start"]), dt.date.fromisoformat(spec["end"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MQ_DEMO_DIR", str(_point(demo_home, built)))
        mp.delenv("MQ_STATE_URL", raising=False)
        mp.delenv("MQ_RECEIVER", raising=False)
        pipe = Pipeline(load_config(shared_demo_config), spark=spark)
        pipe.backfill(start, end)
        pipe.engine.dispose()   # every write is on disk before modules copy the folder
    return demo_warehouse[1], built, (start, end)


@pytest.fixture(scope="module")
def worked_demo(backfilled_demo, demo_home, shared_demo_config, spark, tmp_path_factory):
    """(pipeline, ground truth, workdir, (start, end)): this module's own copy of the backfilled demo.

    A copy of the whole workdir (warehouse, state.db, ledger key, alert sink), so one module's acks,
    sign-offs and late-arriving data never reach another module. `workdir` is `demo_home`, pointed at
    the copy while the module runs (modules run one after another)."""
    from mq.config import load_config
    from mq.pipeline import Pipeline

    truth, built, period = backfilled_demo
    work = tmp_path_factory.mktemp("worked_demo")
    shutil.copytree(built, work, dirs_exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MQ_DEMO_DIR", str(_point(demo_home, work)))
        mp.setenv("MQ_CONFIG", str(shared_demo_config))       # what the module's CLI calls read
        mp.delenv("MQ_STATE_URL", raising=False)
        mp.delenv("MQ_RECEIVER", raising=False)
        pipe = Pipeline(load_config(shared_demo_config), spark=spark)
        yield pipe, truth, demo_home, period
        pipe.engine.dispose()



@pytest.fixture(scope="session")
def light_home(tmp_path_factory) -> Path:
    """The $MQ_DEMO_DIR of `light_history` and of every module's copy of it (as `demo_home` is)."""
    return tmp_path_factory.mktemp("light_home") / "demo"


@pytest.fixture(scope="session")
def light_history(demo_warehouse, light_home, spark, tmp_path_factory):
    """(folder, last day) of the small demo with `light_demo_config` (mq.yml and its suites in the
    folder), backfilled into `folder/state.db` from the demo's first day to two days before its first
    incident: the history the DAG tests start from, built once (`light_copy` gives a module its own)."""
    from mq.config import load_config
    from mq.pipeline import Pipeline

    built = tmp_path_factory.mktemp("light_history")
    (built / "warehouse").symlink_to(demo_warehouse[0], target_is_directory=True)
    truth = demo_warehouse[1]
    start = dt.date.fromisoformat(truth["spec"]["start"])
    end = min(dt.date.fromisoformat(i["start"]) for i in truth["incidents"]) - dt.timedelta(days=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MQ_DEMO_DIR", str(_point(light_home, built)))
        for name in ("MQ_STATE_URL", "MQ_RECEIVER", "MQ_CONFIG", "MQ_SPARK_MASTER", "MQ_SPARK_REMOTE"):
            mp.delenv(name, raising=False)
        pipe = Pipeline(load_config(light_demo_config(light_home)), spark=spark,
                        state_url=f"sqlite:///{light_home / 'state.db'}")
        pipe.backfill(start, end)
        pipe.engine.dispose()
    return built, end


def light_copy(light_history, light_home: Path, tmp_path_factory, name: str) -> Path:
    """A module's own copy of `light_history`, with `light_home` pointed at it (modules run one after
    another); returns `light_home`: the module's $MQ_DEMO_DIR, holding mq.yml, state.db and warehouse/."""
    work = tmp_path_factory.mktemp(name)
    shutil.copytree(light_history[0], work, dirs_exist_ok=True, symlinks=True)
    return _point(light_home, work)


def assert_matches_golden(got: str, golden: Path) -> None:
    """`got` equals the golden file; MQ_UPDATE_GOLDEN=1 rewrites the file first (then review the diff)."""
    if os.environ.get("MQ_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(got)
    assert golden.is_file(), f"{golden} is missing; run with MQ_UPDATE_GOLDEN=1 to create it"
    assert got == golden.read_text(), f"{golden.name} differs from {golden}; if intended, rerun with MQ_UPDATE_GOLDEN=1"
