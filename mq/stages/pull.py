"""Stage 1: pull every configured table's partition in Spark and store the metric points.

`pull` is the stage: small typed inputs (`PullSettings`, the config's part it needs; the metric store
and ledger it records in; `scan`, the Spark read of one table's partition) and the run-summary entry of
each pull returned. What a pull means is a pure function (`pull_outcome`: the outcome, late data, the
ledger entry, from the pull's result and what the store held before).

Unlike the other stages, the pull stage writes as it goes, one partition at a time (`record_pull`):
each partition's points and evidence are committed as soon as its scan finishes, so a run (or a
backfill of many partitions) that crashes keeps what it pulled, and its re-run records nothing new for
an unchanged partition (the store keeps a new version only when the content changed).

After the tables, the pairs with a `user_column` get their distinct and missed users of the same
partitions (mq/stages/users.py), which need both tables' pulls of the day.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mq.run import LedgerEntry
from mq.stages import table_controls

log = logging.getLogger("mq.pull")


@dataclass(frozen=True)
class PullSettings:
    """The part of the config the pull stage reads."""
    tables: tuple[str, ...]                                  # tables with at least one metric, in config order
    controls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # table -> its SOX controls
    arrived: Mapping[str, frozenset[str]] = field(default_factory=dict)    # table -> its curve's metrics
    settle_lags: Mapping[str, tuple[int, ...]] = field(default_factory=dict)   # table -> lags > 0 of its curve

    @classmethod
    def from_config(cls, config) -> "PullSettings":
        from core.config import arrived_metrics

        tables = tuple(pulled_tables(config))
        curves = {t: config.tables[t].completeness_curve for t in tables}
        return cls(tables, {t: table_controls(config, t) for t in tables},
                   {t: arrived_metrics(config, t) for t in tables if curves[t] is not None},
                   {t: tuple(k for k in curves[t].lags_days if k > 0) for t in tables if curves[t] is not None})


@dataclass(frozen=True)
class Pulled:
    """What one recorded pull means: its run-summary entry and, when it changed, its ledger entry."""
    outcome: dict
    entry: LedgerEntry | None = None


def pulled_tables(config) -> list[str]:
    return [t for t in config.tables if any(m.table == t for m in config.metrics.values())]


def pull_outcome(result, before: dict | None, version: int, changed: bool,
                 controls: tuple[str, ...] = ()) -> Pulled:
    """The outcome of a pull (`pulls.PullResult`) the store recorded as `version` (`changed`: a new
    version), `before` being the latest pull it held until then."""
    table, partition = result.table, result.partition
    outcome = {"table": table, "partition": partition.isoformat(), "status": result.status,
               "row_count": result.row_count, "version": version, "changed": changed}
    if changed and before is not None and result.row_count > (before["row_count"] or 0):
        # Rows arrived after an earlier pull: the partition was late (or is still growing).
        outcome["late"] = {"previous_version": before["version"], "previous_rows": before["row_count"]}
    if not changed:
        return Pulled(outcome)
    ev = result.evidence
    return Pulled(outcome, LedgerEntry("pull", f"pull:{table}:{partition.isoformat()}:v{version}", {
        **outcome, "sql_hash": ev["sql_hash"], "content_hash": ev["content_hash"],
        "input_files": ev["input_files"], "spark_app_id": ev["spark_app_id"],
        "started_at": ev["started_at"].isoformat(), "finished_at": ev["finished_at"].isoformat(),
        "controls": list(controls)}, partition))


def record_pull(settings: PullSettings, store, ledger, result, run_id: str | None = None) -> dict:
    """Store one pull's points and evidence, then its ledger entry when it changed; returns its outcome."""
    before = store.latest_pull(result.table, result.partition)
    points, curve = result.points, None
    arrived = settings.arrived.get(result.table)
    if arrived and points is not None and len(points):
        # The completeness curve is versioned on its own (metricstore `record_pair_points`): a re-pull
        # that reaches a later lag adds its points without making the partition's data a new version,
        # so nothing certified on it is revoked as a restatement.
        is_curve = points.metric.isin(arrived)
        points, curve = points[~is_curve], points[is_curve]
    _, version, changed = store.record_pull({**result.evidence, "run_id": run_id}, points)
    if curve is not None and len(curve):
        store.record_pair_points(sorted(set(curve.metric)), result.partition, curve)
    found = pull_outcome(result, before, version, changed, settings.controls.get(result.table, ()))
    if "late" in found.outcome:
        log.warning("late data in %s %s", result.table, result.partition, extra={"mq": found.outcome["late"]})
    if found.entry is not None:
        found.entry.append_to(ledger)
    log.info("pulled %s", result.table, extra={"mq": found.outcome})
    return found.outcome


def pull(settings: PullSettings, store, ledger, partition: dt.date, run_id: str | None = None, *,
         scan: Callable[[str, dt.date], object]) -> list[dict]:
    """Pull and record each table's `partition`; `scan(table, partition)` reads it (a `pulls.PullResult`)."""
    return [record_pull(settings, store, ledger, scan(t, partition), run_id) for t in settings.tables]


def recorded_pulls(settings: PullSettings, store, partition: dt.date) -> list[dict]:
    """The pull outcomes of a partition already pulled (by a range pull), as `pull` reports them."""
    out = []
    for table in settings.tables:
        p = store.latest_pull(table, partition)
        out.append({"table": table, "partition": partition.isoformat(), "status": p["status"],
                    "row_count": p["row_count"], "version": p["version"], "changed": False,
                    **({"error": p["error"]} if p["error"] else {})})
    return out


# ---- the orchestrator's side: the stage on the pipeline's Spark session and stores ----------------

def run_pulls(pipe, partition: dt.date, run_id: str | None = None) -> list[dict]:
    from pulls import pull_partition

    from mq.stages.users import run_user_pulls

    settings = PullSettings.from_config(pipe.config)
    outcomes = pull(settings, pipe.store, pipe.ledger, partition, run_id,
                    scan=lambda table, day: pull_partition(pipe.spark, pipe.config, table, day))
    run_user_pulls(pipe, partition, partition)   # pair-level: needs both tables' pulls of the day
    for table, day in settling_pulls(settings, partition):
        held = pipe.store.latest_pull(table, day)
        if held is None or held["status"] != "ok":
            continue                    # never pulled (before the first run), or not there: nothing to settle
        result = pull_partition(pipe.spark, pipe.config, table, day)
        if result.status != "ok":       # a failed re-read does not replace the partition's good pull
            log.warning("settling re-pull of %s %s: %s", table, day, result.status,
                        extra={"mq": {"table": table, "partition": day.isoformat(), "status": result.status}})
            continue
        record_pull(settings, pipe.store, pipe.ledger, result, run_id)
    return outcomes


def settling_pulls(settings: PullSettings, partition: dt.date) -> list[tuple[str, dt.date]]:
    """(table, partition) re-pulled by the run of `partition` so that completeness curves fill in: the
    run of D goes after D ends, which is when lag k of partition D - k (day D - k + k) has just ended, so
    it re-pulls D - k for every lag k > 0 of each table's curve (only partitions already pulled ok). Keyed by the run's partition, like
    the rest of the run: a re-run re-pulls the same partitions, and an unchanged one records nothing.
    Late rows that changed a partition's count are recorded as any late data is (a new version)."""
    return [(table, partition - dt.timedelta(days=k)) for table, lags in settings.settle_lags.items()
            for k in lags]


def run_range_pulls(pipe, start: dt.date, end: dt.date, run_id: str | None = None) -> None:
    """A backfill's pulls: one Spark scan per table for the whole range, recorded per partition."""
    from pulls.pull import pull_partitions

    from mq.stages.users import run_user_pulls

    settings = PullSettings.from_config(pipe.config)
    for table in settings.tables:
        for result in pull_partitions(pipe.spark, pipe.config, table, start, end):
            record_pull(settings, pipe.store, pipe.ledger, result, run_id)
    run_user_pulls(pipe, start, end)   # pair-level: one job per pair for the range, after both tables


def run_recorded_pulls(pipe, partition: dt.date) -> list[dict]:
    return recorded_pulls(PullSettings.from_config(pipe.config), pipe.store, partition)
