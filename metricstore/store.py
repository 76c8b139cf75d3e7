"""The metric store: versioned metric points, pull evidence, check results and detector verdicts.

Writes are idempotent: pulling an unchanged partition again writes nothing, so re-runs and backfills
never double-record; a partition whose content changed (late data) is stored as a new version and the
old version stays readable.
"""
from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Iterable

import pandas as pd
import sqlalchemy as sa

from metricstore import schema
from metricstore.engine import make_engine
from core.timeutil import utcnow


MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":   # one migrator at a time across processes
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7265431)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


class MetricStore:
    def __init__(self, url_or_engine: str | sa.Engine) -> None:
        self.engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine

    def install(self) -> None:
        """Create or upgrade the tables with the Alembic migrations in metricstore/migrations."""
        migrate(self.engine)

    # ---- runs ---------------------------------------------------------------------
    def start_run(self, partition: dt.date, trigger: str, config_hash: str) -> str:
        run_id = f"{partition.isoformat()}-{uuid.uuid4().hex[:12]}"
        with self.engine.begin() as conn:
            conn.execute(schema.runs.insert().values(
                run_id=run_id, partition=partition, trigger=trigger, config_hash=config_hash,
                status="running", started_at=utcnow()))
        return run_id

    def close_stale_runs(self, older_than: dt.timedelta) -> int:
        """Mark `running` rows started longer ago than `older_than` as `abandoned` (their process died:
        killed, OOM, machine lost); returns how many."""
        r = schema.runs
        with self.engine.begin() as conn:
            return conn.execute(r.update().where(r.c.status == "running", r.c.started_at < utcnow() - older_than)
                                .values(status="abandoned", finished_at=utcnow())).rowcount

    def finish_run(self, run_id: str, status: str, summary: dict) -> None:
        with self.engine.begin() as conn:
            conn.execute(schema.runs.update().where(schema.runs.c.run_id == run_id).values(
                status=status, finished_at=utcnow(), summary=summary))

    def runs(self, start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
        return self._read(schema.runs, start, end, order="started_at")

    # ---- pulls ----------------------------------------------------------------------
    def latest_pull(self, table: str, partition: dt.date) -> dict | None:
        p = schema.pulls
        q = (sa.select(p).where(p.c.table_name == table, p.c.partition == partition)
             .order_by(p.c.version.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(q).mappings().first()
        return dict(row) if row else None

    def record_pull(self, evidence: dict, points: pd.DataFrame | None) -> tuple[int, int, bool]:
        """Store a pull and its points. Returns (pull_id, version, changed)."""
        table, partition = evidence["table_name"], evidence["partition"]
        with self.engine.begin() as conn:
            p = schema.pulls
            latest = conn.execute(
                sa.select(p.c.pull_id, p.c.version, p.c.content_hash, p.c.status)
                .where(p.c.table_name == table, p.c.partition == partition)
                .order_by(p.c.version.desc()).limit(1)).first()
            if latest and latest.content_hash == evidence["content_hash"] and latest.status == evidence["status"]:
                return latest.pull_id, latest.version, False
            version = (latest.version + 1) if latest else 1
            pull_id = conn.execute(p.insert().values(**evidence, version=version)).inserted_primary_key[0]
            if points is not None and len(points):
                rows = [{"metric": r.metric, "slice_key": r.slice_key, "partition": partition,
                         "version": version, "grouping": r.grouping, "labels": r.labels,
                         "value": None if pd.isna(r.value) else float(r.value), "pull_id": pull_id}
                        for r in points.itertuples(index=False)]
                conn.execute(schema.metric_points.insert(), rows)
        return pull_id, version, True

    def record_pair_points(self, metrics: Iterable[str], partition: dt.date, points: pd.DataFrame) -> tuple[int, bool]:
        """Store points versioned apart from any pull (a pair's distinct users, computed from both tables;
        a table's completeness curve, whose later lags must not make a new version of the pull) as a new
        version of `partition` when they differ from the latest version of these `metrics` stored;
        returns (version, changed). Same points again: nothing is written (idempotent re-runs
        and backfills); changed points (late data): version + 1, the old version stays readable."""
        metrics = sorted(set(metrics))
        mp = schema.metric_points
        with self.engine.begin() as conn:
            latest = conn.execute(sa.select(sa.func.max(mp.c.version)).where(
                mp.c.metric.in_(metrics), mp.c.partition == partition)).scalar()
            if latest is not None:
                held = conn.execute(sa.select(mp.c.metric, mp.c.slice_key, mp.c.value).where(
                    mp.c.metric.in_(metrics), mp.c.partition == partition, mp.c.version == latest)).all()
                if _same_points(held, points):
                    return latest, False
            version = (latest or 0) + 1
            rows = [{"metric": r.metric, "slice_key": r.slice_key, "partition": partition, "version": version,
                     "grouping": r.grouping, "labels": r.labels,
                     "value": None if pd.isna(r.value) else float(r.value), "pull_id": None}
                    for r in points.itertuples(index=False)]
            if rows:
                conn.execute(mp.insert(), rows)
        return version, True

    def pulls(self, start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
        return self._read(schema.pulls, start, end, order="pull_id")

    # ---- points ---------------------------------------------------------------------
    def unreplaced_bad_pulls(self, tables: Iterable[str], start: dt.date | None = None,
                             end: dt.date | None = None) -> pd.DataFrame:
        """The latest pull of each (table, partition) of `tables` in [start, end] when it was missing or
        in error: a partition no later pull replaced. Columns as `pulls`."""
        pulls = self.pulls(start, end)
        latest = pulls.sort_values("version").drop_duplicates(["table_name", "partition"], keep="last")
        return latest[latest.table_name.isin(list(tables)) & (latest.status != "ok")]

    def points(self, metrics: Iterable[str], start: dt.date, end: dt.date, *,
               groupings: Iterable[str] | None = None, version: int | None = None) -> pd.DataFrame:
        """Metric points in [start, end]: the latest version per partition, or exactly `version`."""
        mp = schema.metric_points
        scope = [mp.c.metric.in_(list(metrics)), mp.c.partition >= start, mp.c.partition <= end]
        rows_wanted = [] if groupings is None else [mp.c.grouping.in_(list(groupings))]
        if version is not None:
            q = sa.select(mp).where(*scope, *rows_wanted, mp.c.version == version)
        else:
            latest = (sa.select(mp.c.metric, mp.c.partition, sa.func.max(mp.c.version).label("v"))
                      .where(*scope).group_by(mp.c.metric, mp.c.partition).subquery())
            # The date range lives in the subquery only: repeated on the outer table, it made SQLite
            # search the whole range once per partition (quadratic in the days read) instead of
            # looking each (metric, partition) up in the index.
            q = sa.select(mp).join(latest, sa.and_(
                mp.c.metric == latest.c.metric, mp.c.partition == latest.c.partition,
                mp.c.version == latest.c.v)).where(*rows_wanted)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return pd.DataFrame(rows, columns=[c.name for c in mp.c])

    # ---- checks ---------------------------------------------------------------------
    def record_check(self, *, suite: str, table: str, partition: dt.date, suite_hash: str,
                     result_hash: str, success: bool, result: dict, run_id: str) -> bool:
        c = schema.check_results
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(c.c.id).where(
                c.c.suite == suite, c.c.partition == partition, c.c.suite_hash == suite_hash,
                c.c.result_hash == result_hash)).first()
            if exists:
                return False
            conn.execute(c.insert().values(suite=suite, table_name=table, partition=partition,
                                           suite_hash=suite_hash, result_hash=result_hash,
                                           success=success, result=result, run_id=run_id,
                                           recorded_at=utcnow()))
        return True

    def check_results(self, start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
        return self._read(schema.check_results, start, end, order="id")

    # ---- detections -----------------------------------------------------------------
    def save_detections(self, subject: str, partition: dt.date, rows: list[dict]) -> None:
        d = schema.detections
        with self.engine.begin() as conn:
            conn.execute(d.delete().where(d.c.subject == subject, d.c.partition == partition))
            if rows:
                conn.execute(d.insert(), [{**r, "subject": subject, "partition": partition} for r in rows])

    def detections(self, subject: str | None = None, start: dt.date | None = None,
                   end: dt.date | None = None, status: str | None = None) -> pd.DataFrame:
        """Stored verdicts; `status` (e.g. "anomaly") keeps only those, read in SQL."""
        return self._read(schema.detections, start, end, subject=subject, status=status)

    def _read(self, table: sa.Table, start: dt.date | None, end: dt.date | None, *,
              order: str | None = None, **equal) -> pd.DataFrame:
        """Rows of `table` whose partition is in [start, end] (either may be open), as a DataFrame."""
        q = sa.select(table)
        for column, value in equal.items():
            if value is not None:
                q = q.where(table.c[column] == value)
        if start:
            q = q.where(table.c.partition >= start)
        if end:
            q = q.where(table.c.partition <= end)
        if order:
            q = q.order_by(table.c[order])
        with self.engine.connect() as conn:
            return pd.DataFrame(conn.execute(q).mappings().all(), columns=[c.name for c in table.c])


def _same_points(held, points: pd.DataFrame) -> bool:
    """Stored rows (metric, slice_key, value) hold exactly the values of `points` (to 1e-9)."""
    def key(metric, slice_key, value):
        return metric, slice_key, None if value is None or pd.isna(value) else round(float(value), 9)

    return (sorted(key(*r) for r in held)
            == sorted(key(r.metric, r.slice_key, r.value) for r in points.itertuples(index=False)))
