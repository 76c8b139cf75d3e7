"""The stages of one run, each idempotent and keyed by the partition (the Airflow data interval):
pull -> validate -> detect -> alert -> deliver. `mq.pipeline.Pipeline` holds what they share."""
