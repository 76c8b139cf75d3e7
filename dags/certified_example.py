"""Example: a DAG that runs only on certified data (scheduled on a metric's certification Asset).

Wiring only; see `mq.airflow.downstream`. The metric: $MQ_EXAMPLE_METRIC, else the config's first.
"""
from mq.airflow.downstream import build_certified_example_dag

certified_example = build_certified_example_dag()
