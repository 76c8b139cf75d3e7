"""Every table of the state store is created by its Alembic migrations (metricstore/migrations), which
`mq` applies on start (`MetricStore.install`); a store only checks that its tables are there."""
from __future__ import annotations

from typing import Iterable

import sqlalchemy as sa

from core.errors import MqError


class TablesMissingError(MqError):
    """The state store lacks a store's tables: its migrations have not been applied."""


def require_tables(engine: sa.Engine | sa.Connection, names: Iterable[str], owner: str,
                   error: type[MqError] = TablesMissingError) -> None:
    """Raise `error` naming `owner`, the missing tables and the fix when any of `names` is missing."""
    present = set(sa.inspect(engine).get_table_names())
    missing = sorted(set(names) - present)
    if missing:
        url = engine.engine.url if isinstance(engine, sa.Connection) else engine.url
        raise error(f"{owner}: table(s) {missing} missing in {url.render_as_string()}: the state store's "
                    "migrations have not been applied (MetricStore.install(), which `mq` runs on start)")
