"""The metric store keeps every version of a partition and never double-records a re-pull."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from metricstore import MetricStore, utcnow

DAY = dt.date(2026, 3, 2)


def points(total: float) -> pd.DataFrame:
    return pd.DataFrame([("n", "(total)", "", {}, total), ("n", "platform=ios", "platform", {"platform": "ios"}, 3.0)],
                        columns=["metric", "slice_key", "grouping", "labels", "value"])


def evidence(content_hash: str) -> dict:
    return {"table_name": "events", "partition": DAY, "status": "ok", "row_count": 10, "input_files": [],
            "sql_text": "SELECT 1", "sql_hash": "h", "content_hash": content_hash, "spark_app_id": "app",
            "started_at": utcnow(), "finished_at": utcnow(), "error": None}


def test_repull_unchanged_writes_nothing_and_late_data_adds_a_version(store_url):
    store = MetricStore(store_url)
    store.install()
    assert store.record_pull(evidence("a"), points(10))[1:] == (1, True)
    assert store.record_pull(evidence("a"), points(10))[1:] == (1, False)      # re-run: no new rows
    assert len(store.pulls()) == 1
    assert store.record_pull(evidence("b"), points(12))[1:] == (2, True)      # late data
    latest = store.points(["n"], DAY, DAY)
    assert latest.set_index("slice_key").value["(total)"] == 12 and set(latest.version) == {2}
    first = store.points(["n"], DAY, DAY, version=1)
    assert first.set_index("slice_key").value["(total)"] == 10
    only_totals = store.points(["n"], DAY, DAY, groupings=[""])
    assert list(only_totals.slice_key) == ["(total)"]


def test_check_results_are_idempotent(store_url):
    store = MetricStore(store_url)
    store.install()
    kwargs = dict(suite="s", table="events", partition=DAY, suite_hash="x", result_hash="y", success=True,
                  result={"expectations": []}, run_id="r")
    assert store.record_check(**kwargs) is True
    assert store.record_check(**kwargs) is False
    assert len(store.check_results()) == 1


def test_schema_is_managed_by_alembic_migrations(store_url):
    import sqlalchemy as sa

    store = MetricStore(store_url)
    store.install()
    store.install()   # idempotent
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from metricstore.store import MIGRATIONS

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM mq_metricstore_version")).scalar_one() == \
            ScriptDirectory.from_config(cfg).get_current_head()
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"mq_runs", "mq_pulls", "mq_metric_points", "mq_check_results", "mq_detections", "mq_incidents",
            "mq_certifications"} <= tables


def test_migration_matches_the_schema_the_code_uses(sqlite_url):
    """The migrated database has no difference from the tables the code declares in metricstore/schema.py,
    incidents/schema.py and status/schema.py (alembic autogenerate compare)."""
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from incidents import schema as incident_schema
    from metricstore import schema
    from status import schema as status_schema

    declared = sa.MetaData()
    for metadata in (schema.metadata, incident_schema.metadata, status_schema.metadata):
        for table in metadata.tables.values():
            table.to_metadata(declared)
    store = MetricStore(sqlite_url)
    store.install()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), declared)
    alembic_own = ("remove_table", "mq_metricstore_version")   # Alembic's bookkeeping, not ours
    assert [d for d in diff if (d[0], getattr(d[1], "name", None)) != alembic_own] == []


def test_decisions_made_before_receivers_were_keyed_keep_their_rows(store_url):
    """A database whose `mq_alert_decisions` is keyed by fingerprint and partition (revision 0003)
    upgrades to the per-receiver key; its rows stay, a decision without a receiver is `local`'s."""
    import sqlalchemy as sa

    from metricstore import make_engine
    from metricstore.store import migrate

    engine = make_engine(store_url)
    migrate(engine, "0003")
    old = sa.Table("mq_alert_decisions", sa.MetaData(),
                   sa.Column("fingerprint", sa.String(32), primary_key=True),
                   sa.Column("partition", sa.Date, primary_key=True), sa.Column("alert_id", sa.String(64)),
                   sa.Column("decision", sa.String(32), nullable=False), sa.Column("reason", sa.Text, nullable=False),
                   sa.Column("receiver", sa.String(100)), sa.Column("notification_key", sa.String(300)),
                   sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False))
    old.create(engine)
    with engine.begin() as conn:
        conn.execute(old.insert().values(fingerprint="f", partition=dt.date(2026, 9, 17), decision="notify",
                                         reason="r", receiver=None, decided_at=dt.datetime.now(dt.timezone.utc)))
    MetricStore(engine).install()
    assert sa.inspect(engine).get_pk_constraint("mq_alert_decisions")["constrained_columns"] == [
        "fingerprint", "partition", "receiver"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT fingerprint, decision, receiver FROM mq_alert_decisions")).all() == [
            ("f", "notify", "local")]
