"""Alembic environment of the metric store: run on the connection `MetricStore.install()` hands over."""
from alembic import context

from metricstore.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table="mq_metricstore_version")
with context.begin_transaction():
    context.run_migrations()
