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


def test_repull_unchanged_writes_nothing_and_late_data_adds_a_version(migrated_store_url):
    store = MetricStore(migrated_store_url)
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


def test_check_results_are_idempotent(migrated_store_url):
    store = MetricStore(migrated_store_url)
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


def declared_tables():
    """Every table the code declares: metric store, incidents, certifications, alert book, outbox, ledger."""
    import sqlalchemy as sa

    from alerting import outbox
    from alerting import schema as alert_schema
    from incidents import schema as incident_schema
    from ledger import schema as ledger_schema
    from metricstore import schema
    from status import schema as status_schema

    declared = sa.MetaData()
    for metadata in (schema.metadata, incident_schema.metadata, status_schema.metadata, alert_schema.metadata,
                     outbox.metadata, ledger_schema.metadata):
        for table in metadata.tables.values():
            table.to_metadata(declared)
    return declared


def schema_differences(engine) -> list:
    """What alembic autogenerate would change to make the database match the declared tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), declared_tables())
    alembic_own = ("remove_table", "mq_metricstore_version")   # Alembic's bookkeeping, not ours
    return [d for d in diff if (d[0], getattr(d[1], "name", None)) != alembic_own]


def ledger_refuses_updates(engine) -> bool:
    import sqlalchemy as sa

    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE mq_ledger SET kind = 'edited'")
    except sa.exc.DBAPIError as exc:
        return "append-only" in str(exc)
    return False


def test_migration_matches_the_schema_the_code_uses(store_url):
    """The migrated database has every table the code declares and no difference from them (alembic
    autogenerate compare); the ledger's append-only guards come with its table."""
    from alerting.lifecycle import AlertBook
    from alerting.outbox import Outbox
    from ledger import Ledger

    store = MetricStore(store_url)
    store.install()
    assert schema_differences(store.engine) == []
    ledger = Ledger(store.engine)
    ledger.append("run", "run:1", {})
    assert ledger_refuses_updates(store.engine)
    for part in (AlertBook(store.engine), Outbox(store.engine), ledger):
        part.install()   # they check for their tables, which are there


def test_stores_say_the_migrations_have_not_run_on_an_empty_database(store_url):
    import pytest

    from alerting.lifecycle import AlertBook
    from alerting.outbox import Outbox
    from core.errors import MqError
    from ledger import Ledger, LedgerNotInstalledError
    from metricstore import make_engine

    engine = make_engine(store_url)
    for part in (AlertBook(engine), Outbox(engine)):
        with pytest.raises(MqError, match=r"missing .*migrations have not been applied"):
            part.install()
    with pytest.raises(LedgerNotInstalledError, match=r"\['mq_ledger'\] missing"):
        Ledger(engine).install()


def test_a_store_whose_tables_came_from_the_stores_upgrades_and_keeps_its_rows(store_url):
    """A database of a version before 0006: the alert book, the outbox and the ledger created their own
    tables (create_all) beside migrations 0001-0005. Upgrading keeps them and their rows, and leaves the
    same schema as a new database."""
    import sqlalchemy as sa

    from alerting import outbox
    from alerting import schema as alert_schema
    from alerting.lifecycle import AlertBook
    from alerting.outbox import Outbox
    from ledger import Ledger
    from ledger import schema as ledger_schema
    from metricstore import make_engine
    from metricstore.store import migrate

    engine = make_engine(store_url)
    migrate(engine, "0005")
    for metadata in (alert_schema.metadata, outbox.metadata, ledger_schema.metadata):
        metadata.create_all(engine)   # what the stores' install did before 0006
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:
        conn.execute(alert_schema.silences.insert().values(matchers={"pair": "events"}, author="a", reason="r",
                                                          created_at=now, expires_at=now))
    old_ledger = Ledger(engine)
    first = old_ledger.append("run", "run:old", {"before": "0006"})

    MetricStore(engine).install()
    assert schema_differences(engine) == []
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT author FROM mq_silences")).scalars().all() == ["a"]
    ledger = Ledger(engine)
    ledger.install()   # arms the guards the old database lacked here
    assert ledger_refuses_updates(engine)
    assert ledger.append("run", "run:new", {}).seq == first.seq + 1 and ledger.verify().ok
    AlertBook(engine).install()
    box = Outbox(engine)
    box.install()
    assert box.items() == []


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
