"""Bind a suite to the schema of the partition being processed, before any Spark job runs.

Binding checks that every column a suite names exists (with a type that fits, where it matters),
resolves our own expectations against the partition date, and builds the GX expectation objects.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from checks import catalog
from checks.spec import ExpectationSpec, SuiteSpec
from core.errors import ConfigError

TIMESTAMP_TYPES = ("TimestampType", "TimestampNTZType")


@dataclass(frozen=True)
class BoundExpectation:
    spec: ExpectationSpec
    gx: Any                      # a great_expectations Expectation
    threshold: dict[str, Any]    # what defines it, as reported in the outcome
    local_timestamps: bool = False  # observed datetimes come back in the driver's local time

    @property
    def is_map(self) -> bool:
        """Row-level expectations (unexpected counts and samples) as opposed to aggregate ones."""
        from great_expectations.expectations.expectation import ColumnMapExpectation

        return isinstance(self.gx, ColumnMapExpectation)


def bind(suite: SuiteSpec, schema, partition: dt.date) -> list[BoundExpectation]:
    """`schema` is a pyspark StructType. Raises ConfigError naming the suite file and the key."""
    types = {f.name: type(f.dataType).__name__ for f in schema.fields}
    bound = []
    for spec in suite.expectations:
        for argument, column in catalog.referenced_columns(spec.kwargs):
            if column not in types:
                raise ConfigError(suite.path, f"{spec.key}.{argument}",
                                  f"column not in the schema of table {suite.table!r} "
                                  f"(columns: {', '.join(sorted(types))})", column)
        if spec.name == "expect_partition_freshness":
            bound.append(_bind_freshness(suite, spec, types, partition))
        else:
            gx_class = catalog.gx_expectation_class(spec.name)
            bound.append(BoundExpectation(spec, gx_class(**spec.kwargs), dict(spec.kwargs)))
    return bound


def partition_end(partition: dt.date) -> dt.datetime:
    """Midnight UTC after the partition date: the end of the partition's day."""
    return dt.datetime.combine(partition + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)


def _bind_freshness(suite: SuiteSpec, spec: ExpectationSpec, types: dict[str, str],
                    partition: dt.date) -> BoundExpectation:
    import great_expectations as gx

    column, lag = spec.kwargs["column"], float(spec.kwargs["max_lag_hours"])
    if types[column] not in TIMESTAMP_TYPES:
        raise ConfigError(suite.path, f"{spec.key}.column",
                          f"needs a timestamp column, {column!r} is {types[column]}", column)
    end = partition_end(partition)
    start = end - dt.timedelta(hours=lag)
    # pyspark hands TIMESTAMP values to Python as naive *local* times and TIMESTAMP_NTZ values as
    # naive wall times (UTC by this project's convention); GX compares in Python, so the bounds
    # must be in the same frame as the values it will collect.
    local = types[column] == "TimestampType"
    low, high = (_to_driver_frame(start, local), _to_driver_frame(end, local))
    expectation = gx.expectations.ExpectColumnMaxToBeBetween(
        column=column, min_value=low, max_value=high, strict_max=True)
    threshold = {"column": column, "max_lag_hours": spec.kwargs["max_lag_hours"],
                 "min_value": start.isoformat(), "max_value_exclusive": end.isoformat()}
    return BoundExpectation(spec, expectation, threshold, local_timestamps=local)


def _to_driver_frame(moment: dt.datetime, local: bool) -> dt.datetime:
    if local:
        return moment.astimezone().replace(tzinfo=None)
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)


def driver_local_to_utc(value: Any) -> Any:
    """Undo pyspark's local-time conversion of a TIMESTAMP value collected to the driver."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.astimezone().astimezone(dt.timezone.utc)
    return value
