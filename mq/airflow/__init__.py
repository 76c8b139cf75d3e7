"""Airflow integration: DAGs built from the same YAML config as the `mq` command line.

`factory` builds the DAGs, `tasks` holds what each task does (library calls only), `partition` maps a
DAG run to the partition it owns, `sensors`/`triggers` wait for a partition until its deadline,
`connections` reads Spark, Slack and the state store from Airflow Connections, and `audit` holds the
ledger-verification and SOX-report tasks. `dags/metrics_quality.py` only wires these together.
"""
