"""Configuration: one YAML file, parsed and validated into typed specs before anything runs.

Parse, then execute: a bad file fails here with the file, the key path and the offending value
(`ConfigError`), never deep inside a Spark job. Strings may use `${VAR}` or `${VAR:-default}` to read
the environment. Relative paths resolve against the config file's folder. Every key is documented in
the README ("Configuration reference").
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Callable, Literal

import yaml
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator,
                      model_validator)

from core.expressions import ExpressionError, check_aggregate, check_condition
from core.errors import ConfigError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUALIFIED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_identifier(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError("must be a plain identifier (letters, digits, underscore)")
    return value


Identifier = Annotated[str, AfterValidator(_check_identifier)]


class SparkSpec(_Spec):
    master: str = "local[*]"
    remote: str | None = None  # Spark Connect URL, sc://host:15002
    conf: dict[str, str] = Field(default_factory=dict)

    @field_validator("remote")
    @classmethod
    def _remote_is_connect_url(cls, value: str | None) -> str | None:
        if value and not value.startswith("sc://"):
            raise ValueError("a Spark Connect URL starts with sc://")
        return value or None


class StateStoreSpec(_Spec):
    url: str | None = None  # SQLAlchemy URL; default sqlite:///<workdir>/state.db


class Holiday(_Spec):
    date: dt.date
    name: str


class CalendarSpec(_Spec):
    holidays: list[Holiday] = Field(default_factory=list)


MAX_ARRIVAL_LAG_DAYS = 90


def arrived_metric(metric: str, lag: int) -> str:
    """The stored metric counting `metric` over the rows that had arrived by the end of day D+`lag`."""
    return f"{metric}__arrived_d{lag}"


def arrived_metrics(config: "Config", table: str) -> frozenset[str]:
    """Every completeness-curve metric the pulls of `table` store (none without a curve)."""
    curve = config.tables[table].completeness_curve
    if curve is None:
        return frozenset()
    return frozenset(arrived_metric(m, lag) for m, spec in config.metrics.items() if spec.table == table
                     for lag in curve.lags_days)


class CompletenessCurveSpec(_Spec):
    """Late arrival: the table's rows say when they arrived (`column`, a timestamp), and every pull
    also stores each metric of the table over the rows that had arrived by the end of the partition's
    day + k, for each k of `lags_days` (`arrived_metric`), computed in the same scan."""
    column: Identifier
    lags_days: list[Annotated[int, Field(ge=0, le=MAX_ARRIVAL_LAG_DAYS)]] = Field(
        default_factory=lambda: [0, 1, 2, 7])

    @field_validator("lags_days")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("give at least one lag in days, e.g. [0, 1, 2, 7]")
        if value[0] != 0:
            raise ValueError(f"the curve starts at the partition's own day: the first lag must be 0, got {value}")
        if any(b <= a for a, b in zip(value, value[1:])):
            raise ValueError(f"lags must be distinct days in increasing order, got {value}")
        return value


class TableSpec(_Spec):
    path: str | None = None      # Parquet (Hive-partitioned) folder
    table: str | None = None     # or a catalog table: db.table
    format: Literal["parquet", "orc", "json", "csv", "delta"] = "parquet"
    partition_column: str = "ds"
    timestamp_column: str | None = None
    suite: str | None = None     # expectation suite file (checks/suites/*.yml)
    min_slice_rows: int = Field(default=0, ge=0)   # rarer dimension values fold into "(other)"
    max_dimension_values: int = Field(default=1000, ge=1)   # the rest fold into "(other)", with a warning
    owner: str = "metrics-quality"
    completeness_curve: CompletenessCurveSpec | None = None   # late arrival: counts by D+k

    _ident = field_validator("partition_column", "timestamp_column")(
        classmethod(lambda cls, v: v if v is None else _check_identifier(v)))

    @model_validator(mode="after")
    def _one_source(self) -> "TableSpec":
        if bool(self.path) == bool(self.table):
            raise ValueError("give exactly one of `path` (files) or `table` (catalog table)")
        if self.table and not _QUALIFIED.match(self.table):
            raise ValueError(f"`table` must look like db.table, got {self.table!r}")
        return self


# Detector names and parameters are checked by the detector registry, which lives outside core (core
# depends on no other package of the project): the application plugs the check in (`mq.config`).
_detector_check: Callable[[str, dict], None] | None = None
_detector_lookback: Callable[[str, dict], int] | None = None


def set_detector_check(check: Callable[[str, dict], None] | None,
                       lookback: Callable[[str, dict], int] | None = None) -> None:
    """`check(name, params)` raises ValueError for an unknown detector or a bad parameter;
    `lookback(name, params)` is how many days before a partition the detector reads."""
    global _detector_check, _detector_lookback
    _detector_check, _detector_lookback = check, lookback


class DetectorRef(_Spec):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> "DetectorRef":
        if _detector_check is not None:
            _detector_check(self.name, dict(self.params))
        return self


class MetricSpec(_Spec):
    table: str
    expression: str = "COUNT(*)"          # a Spark SQL aggregate over the table's rows
    where: str | None = None              # optional extra row filter (Spark SQL)
    additive: bool = True                 # sums of slices equal the total (counts, sums)
    dimensions: list[Identifier] | None = None   # default: the top-level `dimensions`
    detectors: list[DetectorRef] = Field(default_factory=list)
    owner: str = "metrics-quality"
    team: str | None = None
    sox: bool = False
    description: str = ""

    # Parsed and confined on load: one aggregate / one row condition over the table's own columns.
    @field_validator("expression")
    @classmethod
    def _expression_confined(cls, value: str) -> str:
        return _confined(check_aggregate, value)

    @field_validator("where")
    @classmethod
    def _where_confined(cls, value: str | None) -> str | None:
        return value if value is None else _confined(check_condition, value)


class PairSpec(_Spec):
    """A client-vs-warehouse pair: the ratio client/warehouse is monitored per slice."""
    client: str
    warehouse: str
    detectors: list[DetectorRef] = Field(default_factory=lambda: [DetectorRef(name="ratio_binomial")])
    row_ratio_band: tuple[float, float] | None = None   # expected client/warehouse row ratio
    # The dimension whose values are app releases: the sizing report compares the capture before and
    # after each one's rollout (None: no rollout comparison).
    version_dimension: Identifier | None = None
    # A column of both tables naming the user of an event: the pair then also stores, per monitored
    # slice and day, the distinct users the warehouse saw and those of them the client never logged.
    user_column: Identifier | None = None
    owner: str = "metrics-quality"
    team: str | None = None
    sox: bool = False
    description: str = ""


def user_metric_names(pair: str) -> tuple[str, str]:
    """The stored metrics of a pair with a `user_column`: (distinct warehouse users, of them missed by
    the client). The colon keeps them apart from configured metric names, which are identifiers."""
    return f"{pair}:warehouse_users", f"{pair}:missed_users"


class ReceiverSpec(_Spec):
    name: str
    file: str | None = None                 # JSON Lines sink
    slack: dict[str, str] | None = None     # {channel: "#x"}; token from MQ_SLACK_TOKEN
    webhook: str | None = None              # URL

    @model_validator(mode="after")
    def _one_kind(self) -> "ReceiverSpec":
        if sum(x is not None for x in (self.file, self.slack, self.webhook)) != 1:
            raise ValueError("a receiver needs exactly one of `file`, `slack`, `webhook`")
        if self.slack is not None and not self.slack.get("channel"):
            raise ValueError("a slack receiver needs `channel`")
        return self


class RouteSpec(_Spec):
    """A node of the routing tree (in the spirit of Prometheus Alertmanager's `route`)."""
    receiver: str | None = None
    matchers: dict[str, str] = Field(default_factory=dict)   # label: value, or label: "~regex"
    group_by: list[str] | None = None
    repeat_interval_days: int | None = Field(default=None, ge=1)
    fire_after_runs: int | None = Field(default=None, ge=1)      # hysteresis: breaching runs before firing
    resolve_after_runs: int | None = Field(default=None, ge=1)   # clean runs before resolving
    send_resolved: bool | None = None   # reply "resolved" in the incident's thread (Alertmanager's send_resolved)
    continue_: bool = Field(default=False, alias="continue")
    routes: list["RouteSpec"] = Field(default_factory=list)


# ---- alerting.inhibit_rules (alerting/inhibit.py) ------------------------------------------
class InhibitRuleSpec(_Spec):
    """Alerts matching `target_match` are muted while another alert of the run matches `source_match`
    with the same values of the `equal` labels (Prometheus Alertmanager's `inhibit_rules`)."""
    source_match: dict[str, str]     # label: value, or label: "~regex" (the whole value must match)
    target_match: dict[str, str]
    equal: list[Identifier] = Field(default_factory=lambda: ["partition"])

    @field_validator("source_match", "target_match")
    @classmethod
    def _matchers(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("give at least one label matcher (label: value); an empty one matches every alert")
        for label, wanted in value.items():
            if wanted.startswith("~"):
                try:
                    re.compile(wanted[1:])
                except re.error as exc:
                    raise ValueError(f"label {label!r}: {wanted!r} is not a valid regular expression ({exc})") from None
        return value


def default_inhibit_rules() -> list[InhibitRuleSpec]:
    """A missing partition (freshness) mutes the anomaly and discrepancy alerts of that partition."""
    return [InhibitRuleSpec(source_match={"kind": "freshness"}, target_match={"kind": "~anomaly|discrepancy"},
                            equal=["partition"])]
# ---- end of alerting.inhibit_rules ---------------------------------------------------------


class AlertingSpec(_Spec):
    route: RouteSpec = Field(default_factory=lambda: RouteSpec(receiver="local"))
    inhibit_rules: list[InhibitRuleSpec] = Field(default_factory=default_inhibit_rules)
    receivers: list[ReceiverSpec] = Field(
        default_factory=lambda: [ReceiverSpec(name="local", file=".mq/alerts/notifications.jsonl")])
    fdr_q: float = Field(default=0.05, gt=0, lt=1)
    min_relative_effect: float = Field(default=0.02, ge=0)
    min_absolute_effect: float = Field(default=0.0, ge=0)
    # A drift finding (a detector that fits a ramp) is material when its level so far, or its level
    # projected at its estimated slope this many days ahead, reaches the minimum effect (0: so far only).
    drift_horizon_days: int = Field(default=7, ge=0, le=60)
    history_days: int = Field(default=56, ge=7)
    flap_max_incidents: int = Field(default=3, ge=2)   # this many incidents of one fingerprint ...
    flap_window_days: int = Field(default=14, ge=1)    # ... within this window: new ones are muted as flapping
    # A slice anomaly with every parent slice normal and a change within this many of the slice's own
    # week-to-week sigmas is not sent (0: off).
    hierarchy_wobble_z: float = Field(default=3.0, ge=0)


class DetectionSpec(_Spec):
    """Where and how the detectors score many series (the verdicts are the same on every engine)."""
    engine: Literal["auto", "local", "spark"] = "auto"   # auto: Spark for large histories
    group_series: int = Field(default=5_000, ge=1)        # series scored together (a Spark bucket's size)
    spark_min_rows: int = Field(default=50_000_000, ge=0)   # auto: history rows from which Spark is used
    # Consecutive flagged days after which a change becomes the new baseline (0: never).
    accept_change_after_days: int = Field(default=14, ge=0)


class CertificationSpec(_Spec):
    """When a metric partition may be certified (see status/certify.py)."""
    settle_hours: float = Field(default=0, ge=0)   # after the day ends, late data is still expected: provisional


class Config(_Spec):
    version: Literal[1] = 1
    workdir: str = ".mq"
    spark: SparkSpec = Field(default_factory=SparkSpec)
    state_store: StateStoreSpec = Field(default_factory=StateStoreSpec)
    calendar: CalendarSpec = Field(default_factory=CalendarSpec)
    dimensions: list[Identifier] = Field(default_factory=list)
    slices: list[list[Identifier]] = Field(default_factory=lambda: [[]])  # dimension sets alerted on
    tables: dict[str, TableSpec]
    metrics: dict[str, MetricSpec] = Field(default_factory=dict)
    pairs: dict[str, PairSpec] = Field(default_factory=dict)
    alerting: AlertingSpec = Field(default_factory=AlertingSpec)
    detection: DetectionSpec = Field(default_factory=DetectionSpec)
    certification: CertificationSpec = Field(default_factory=CertificationSpec)

    # Set by load_config, not by the file.
    source_path: str = Field(default="<memory>", exclude=True)
    # $MQ_STATE_URL as it was when the config was loaded (see `state_url`).
    _state_url_override: str | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        environ = (context or {}).get("environ", os.environ)
        self._state_url_override = environ.get("MQ_STATE_URL") or None

    @model_validator(mode="before")
    @classmethod
    def _default_sink_in_workdir(cls, data: Any) -> Any:
        """Without `alerting.receivers`, the one `local` file sink writes under `workdir`."""
        if not isinstance(data, dict):
            return data
        alerting = data.get("alerting", {})
        if not isinstance(alerting, dict) or "receivers" in alerting:
            return data
        workdir = data.get("workdir", cls.model_fields["workdir"].default)
        if not isinstance(workdir, str):
            return data   # the field's own check names the bad value
        file = str(Path(workdir) / "alerts" / "notifications.jsonl")
        return {**data, "alerting": {**alerting, "receivers": [{"name": "local", "file": file}]}}

    @field_validator("tables", "metrics", "pairs")
    @classmethod
    def _names_are_identifiers(cls, value: dict) -> dict:
        for name in value:
            _check_identifier(name)
        return value

    @model_validator(mode="after")
    def _references(self) -> "Config":
        for name, metric in self.metrics.items():
            if metric.table not in self.tables:
                raise ValueError(f"metrics.{name}.table: unknown table {metric.table!r}; "
                                 f"known: {sorted(self.tables)}")
        self._check_completeness_curves()
        for name, pair in self.pairs.items():
            for side in ("client", "warehouse"):
                if getattr(pair, side) not in self.metrics:
                    raise ValueError(f"pairs.{name}.{side}: unknown metric {getattr(pair, side)!r}; "
                                     f"known: {sorted(self.metrics)}")
            self._version_dimension_is_monitored(name, pair)
        for i, dims in enumerate(self.slices):
            unknown = set(dims) - set(self.dimensions)
            if unknown:
                raise ValueError(f"slices[{i}]: {sorted(unknown)} not in `dimensions`")
        self._history_covers_detectors()
        receivers = {r.name for r in self.alerting.receivers}
        for route in _walk(self.alerting.route):
            if route.receiver and route.receiver not in receivers:
                raise ValueError(f"alerting.route: receiver {route.receiver!r} is not defined in "
                                 f"alerting.receivers ({sorted(receivers)})")
        return self

    def _version_dimension_is_monitored(self, name: str, pair: "PairSpec") -> None:
        """A pair's `version_dimension` is one of its client metric's dimensions and in a monitored
        slice set (the sizing report reads each version's counts from that set's slices)."""
        version = pair.version_dimension
        if version is None:
            return
        dims = self.metric_dimensions(pair.client)
        if version not in dims:
            raise ValueError(f"pairs.{name}.version_dimension: {version!r} is not a dimension of metric "
                             f"{pair.client!r} ({dims})")
        if not any(version in s and set(s) <= set(dims) for s in self.slices):
            raise ValueError(f"pairs.{name}.version_dimension: {version!r} is in no monitored slice set "
                             f"(`slices`); add one that holds it, e.g. [platform, {version}]")

    def _check_completeness_curves(self) -> None:
        """A completeness curve's column is not the partition column, and the metrics it adds
        (`arrived_metric`) do not take the name of a configured metric."""
        for name, table in self.tables.items():
            curve = table.completeness_curve
            if curve is None:
                continue
            if curve.column == table.partition_column:
                raise ValueError(f"tables.{name}.completeness_curve.column: {curve.column!r} is the partition "
                                 f"column; name the column that says when a row arrived")
            for metric, spec in self.metrics.items():
                for lag in curve.lags_days if spec.table == name else ():
                    if arrived_metric(metric, lag) in self.metrics:
                        raise ValueError(f"metrics.{arrived_metric(metric, lag)}: the name is taken by the "
                                         f"completeness curve of tables.{name} (metric {metric}, lag {lag})")

    def _history_covers_detectors(self) -> None:
        """A detector reading further back than `alerting.history_days` would see less history in a
        daily run (which loads that many days) than in a backfill (which loads the whole range), so the
        two would give different verdicts: refuse the config and say how many days are needed."""
        if _detector_lookback is None:
            return
        have = self.alerting.history_days
        for kind, specs in (("metrics", self.metrics), ("pairs", self.pairs)):
            for name, spec in specs.items():
                for i, ref in enumerate(spec.detectors):
                    need = _detector_lookback(ref.name, dict(ref.params))
                    if need > have:
                        raise ValueError(
                            f"alerting.history_days: {have} is shorter than the {need} days detector "
                            f"{ref.name!r} of {kind}.{name}.detectors[{i}] reads; set history_days to at "
                            f"least {need}")

    # ---- derived values -------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        return Path(self.source_path).parent if self.source_path != "<memory>" else Path.cwd()

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    @property
    def workdir_path(self) -> Path:
        return self.resolve(self.workdir)

    @property
    def state_url(self) -> str:
        """$MQ_STATE_URL (read once, when the config is loaded), else `state_store.url`, else SQLite in workdir."""
        url = self._state_url_override or self.state_store.url
        return url or f"sqlite:///{self.workdir_path / 'state.db'}"

    @property
    def holidays(self) -> set[dt.date]:
        return {h.date for h in self.calendar.holidays}

    def metric_dimensions(self, metric: str) -> list[str]:
        dims = self.metrics[metric].dimensions
        return list(dims) if dims is not None else list(self.dimensions)

    @property
    def content_hash(self) -> str:
        """Hash of the effective configuration: control definitions are versioned by it."""
        body = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()


class _TextDatesLoader(yaml.SafeLoader):
    """Dates stay text for the typed specs to parse: YAML's own date constructor fails on 2026-02-30
    with a bare ValueError (a traceback), where the spec names the key and the value."""


_TextDatesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _confined(check, sql: str) -> str:
    try:
        check(sql)
    except ExpressionError as exc:
        raise ValueError(str(exc)) from None
    return sql


def _walk(route: RouteSpec):
    yield route
    for child in route.routes:
        yield from _walk(child)


def _expand_env(node: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return _ENV.sub(lambda m: environ.get(m.group(1), m.group(2) or ""), node)
    if isinstance(node, list):
        return [_expand_env(x, environ) for x in node]
    if isinstance(node, dict):
        return {k: _expand_env(v, environ) for k, v in node.items()}
    return node


def _dig(data: Any, loc: tuple) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def load_config(path: str | os.PathLike, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read, expand and validate a config file. Raises ConfigError naming file, key and value.

    `${VAR}` and $MQ_STATE_URL are read from `environ` (default: the process environment), once."""
    environ = os.environ if environ is None else environ
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), "<file>", "config file not found")
    try:
        raw = yaml.load(path.read_text(), Loader=_TextDatesLoader) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "<yaml>"
        raise ConfigError(str(path), where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(str(path), "<top>", "the file must hold a mapping of keys")
    raw = _expand_env(raw, environ)
    try:
        config = Config.model_validate({**raw, "source_path": str(path.resolve())}, context={"environ": environ})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if p not in ("function-after[_references()]",))
        key = ".".join(str(p) for p in loc) or "<top>"
        message = err["msg"].removeprefix("Value error, ")
        nested = re.match(r"^([A-Za-z_][\w.\[\]]*): (.*)$", message, re.S)
        if nested and not loc:  # a cross-reference check names its own key path
            key, message = nested.group(1), nested.group(2)
            loc = tuple(int(p) if p.isdigit() else p for p in re.split(r"[.\[\]]+", key) if p)
        value = _dig(raw, loc) if loc else None
        if isinstance(value, (dict, list)):
            value = None
        raise ConfigError(str(path), key, message, value) from None
    return config
