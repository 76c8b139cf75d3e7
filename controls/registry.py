"""The SOX control registry: every pull, reconciliation, expectation suite and detector that guards a
metric or pair marked `sox: true`, with its owner, objective, frequency, precision and exception rule.

A control's *definition* is everything an auditor would compare between two periods; its content hash
is the control's version, so a changed threshold, suite or detector parameter is a new version (see
`controls.changes`). The ids are the ones the pipeline writes into ledger payloads (`pull:<table>`,
`suite:<table>`, `detect:<metric or pair>`), plus `reconcile:<pair>` for a pair's row-count band and
`schedule:daily` for the daily run that executes all of them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from core.config import Config

FREQUENCY = "daily"
SCHEDULE_CONTROL = "schedule:daily"


@dataclasses.dataclass(frozen=True)
class Control:
    """One control. `precision` holds the thresholds that decide pass or fail."""

    id: str
    kind: str                    # schedule, pull, suite, reconcile, detect
    subject: str                 # table, pair or metric the control executes on
    owner: str
    team: str | None
    objective: str
    precision: dict[str, Any]
    exception_rule: str
    guards: tuple[str, ...]      # the sox metrics and pairs it protects
    frequency: str = FREQUENCY

    def definition(self) -> dict[str, Any]:
        """What is versioned: every field, in JSON form."""
        return json.loads(json.dumps(dataclasses.asdict(self), sort_keys=True, default=str))

    @property
    def definition_hash(self) -> str:
        body = json.dumps(self.definition(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(body.encode("utf-8")).hexdigest()


def sox_subjects(config: Config) -> list[str]:
    """Metrics and pairs marked `sox: true`, metrics first."""
    return ([m for m, spec in config.metrics.items() if spec.sox]
            + [p for p, spec in config.pairs.items() if spec.sox])


def guarded_tables(config: Config) -> dict[str, tuple[str, ...]]:
    """Table -> the sox metrics and pairs whose numbers come from it."""
    out: dict[str, list[str]] = {}
    for name, metric in config.metrics.items():
        if metric.sox:
            out.setdefault(metric.table, []).append(name)
    for name, pair in config.pairs.items():
        if pair.sox:
            for side in (pair.client, pair.warehouse):
                out.setdefault(config.metrics[side].table, []).append(name)
    return {table: tuple(dict.fromkeys(names)) for table, names in out.items()}


def build_registry(config: Config) -> list[Control]:
    """Every control of `config`, sorted by id. Empty when nothing is marked `sox: true`."""
    subjects = sox_subjects(config)
    if not subjects:
        return []
    controls = [_schedule(config, subjects)]
    for table, guards in guarded_tables(config).items():
        controls.append(_pull(config, table, guards))
        if config.tables[table].suite:
            controls.append(_suite(config, table, guards))
    for name, pair in config.pairs.items():
        if pair.sox and pair.row_ratio_band:
            controls.append(_reconcile(config, name))
    for name in subjects:
        spec = config.metrics.get(name) or config.pairs[name]
        if spec.detectors:
            controls.append(_detect(config, name))
    return sorted(controls, key=lambda c: c.id)


@dataclasses.dataclass(frozen=True)
class ControlSettings:
    """The part of the config the control functions read: the registry, and what a definition change
    records about where it came from (the config's hash, the folder whose git commit is recorded)."""
    controls: tuple[Control, ...]
    config_hash: str = ""
    base_dir: Path | None = None

    @classmethod
    def from_config(cls, config: Config) -> "ControlSettings":
        return cls(tuple(build_registry(config)), config.content_hash, config.base_dir)

    @property
    def by_id(self) -> dict[str, Control]:
        return {c.id: c for c in self.controls}


def ratio_check_name(pair: str) -> str:
    """The suite name the validate stage records for a pair's row-count ratio check."""
    return f"{pair}_row_ratio"


# ---- one builder per kind of control ------------------------------------------------------------
def _schedule(config: Config, subjects: list[str]) -> Control:
    return Control(
        id=SCHEDULE_CONTROL, kind="schedule", subject="pipeline", owner="metrics-quality", team=None,
        objective="Every daily partition is processed by a run that completes every stage "
                  "(pull, validate, detect, alert, deliver).",
        precision={"successful_runs_per_partition": 1,
                   "stages": ["pull", "validate", "detect", "alert", "deliver"]},
        exception_rule="A partition of the period without a successful run record (missed), "
                       "or a run that failed.",
        guards=tuple(subjects))


def _pull(config: Config, table: str, guards: tuple[str, ...]) -> Control:
    spec = config.tables[table]
    metrics = {name: {"expression": m.expression, "where": m.where, "additive": m.additive}
               for name, m in config.metrics.items() if m.table == table}
    precision = {"partition_column": spec.partition_column, "rule": "partition present with rows > 0",
                 "metrics": metrics}
    # What else changes the pull's SQL or the slices it stores, named only where it departs from the
    # default, so a config that never set it keeps its control's version.
    if spec.completeness_curve is not None:
        precision["completeness_curve"] = spec.completeness_curve.model_dump(mode="json")
    for name in ("min_slice_rows", "max_dimension_values"):
        if getattr(spec, name) != type(spec).model_fields[name].default:
            precision[name] = getattr(spec, name)
    return Control(
        id=f"pull:{table}", kind="pull", subject=table, owner=spec.owner, team=None,
        objective=f"Completeness: the daily partition of {table} is read in full, with evidence "
                  "(rendered SQL hash, input files, row count, Spark application).",
        precision=precision,
        exception_rule="The partition is missing or empty, or the pull failed.",
        guards=guards)


def _suite(config: Config, table: str, guards: tuple[str, ...]) -> Control:
    from checks.spec import load_suite

    spec = config.tables[table]
    suite = load_suite(config.resolve(spec.suite))
    expectations = [f"{e.name} {json.dumps(e.kwargs, sort_keys=True, default=str)}" for e in suite.expectations]
    return Control(
        id=f"suite:{table}", kind="suite", subject=table, owner=spec.owner, team=None,
        objective=f"Accuracy and validity: the expectation suite {suite.name!r} holds on every "
                  f"partition of {table} (schema, nulls, value sets, volume, freshness, unique ids).",
        precision={"suite": suite.name, "suite_file": Path(spec.suite).name, "suite_hash": suite.version_hash,
                   "expectations": expectations},
        exception_rule="Any expectation of the suite fails on the partition.",
        guards=guards)


def _reconcile(config: Config, pair_name: str) -> Control:
    pair = config.pairs[pair_name]
    low, high = pair.row_ratio_band
    client_table, warehouse_table = config.metrics[pair.client].table, config.metrics[pair.warehouse].table
    return Control(
        id=f"reconcile:{pair_name}", kind="reconcile", subject=pair_name, owner=pair.owner, team=pair.team,
        objective=f"Reconciliation: client-logged rows ({client_table}) against warehouse rows "
                  f"({warehouse_table}) stay within the agreed band every day.",
        precision={"check": ratio_check_name(pair_name), "row_ratio_band": [low, high],
                   "client_table": client_table, "warehouse_table": warehouse_table},
        exception_rule=f"The client/warehouse row ratio is outside [{low}, {high}] or cannot be computed.",
        guards=(pair_name,))


def _detect(config: Config, subject: str) -> Control:
    from detectors.spec import build_detector

    metric, pair = config.metrics.get(subject), config.pairs.get(subject)
    spec = metric or pair
    a = config.alerting
    detectors = [{"name": d.name,
                  "params": json.loads(json.dumps(dataclasses.asdict(build_detector(d.name, d.params).params),
                                                  sort_keys=True, default=str))}
                 for d in spec.detectors]
    dims = set(config.metric_dimensions(subject if metric else pair.warehouse))
    precision = {"detectors": detectors, "fdr_q": a.fdr_q, "min_relative_effect": a.min_relative_effect,
                 "min_absolute_effect": a.min_absolute_effect, "history_days": a.history_days,
                 "slices": [list(s) for s in config.slices if set(s) <= dims],
                 "holidays": sorted(h.isoformat() for h in config.holidays)}
    if pair is not None:
        precision.update(client=pair.client, warehouse=pair.warehouse)
    what = "client/warehouse ratio" if pair is not None else "value"
    return Control(
        id=f"detect:{subject}", kind="detect", subject=subject, owner=spec.owner, team=spec.team,
        objective=f"Detection: a moved {what} of {subject} on any monitored slice is flagged on the day "
                  "it happens, against same-weekday history.",
        precision=precision,
        exception_rule="Any monitored slice is anomalous after false-discovery-rate control and the "
                       "minimum effect sizes.",
        guards=(subject,))
