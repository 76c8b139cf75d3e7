-- A second database for the metrics-quality state store (metric points, alerts, audit ledger),
-- beside Airflow's metadata database created by POSTGRES_DB.
CREATE DATABASE mq_state;
