"""metrics-quality DAGs: wiring only. Everything they do lives in `mq.airflow` (see its docs).

Config: Airflow Variable `mq_config`, else $MQ_CONFIG, else the bundled demo config.
"""
from mq.airflow.factory import build_dags

for _dag in build_dags():
    globals()[_dag.dag_id] = _dag
