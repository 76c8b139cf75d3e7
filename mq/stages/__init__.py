"""The stages of one run, one module each, idempotent and keyed by the partition (the Airflow data
interval): pull -> validate -> detect -> alert -> certify -> deliver. Their order, what each reads and
produces, is declared once in `mq.run.STAGES`; `mq.pipeline.Pipeline` holds what they share."""
