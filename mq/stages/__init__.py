"""The stages of one run, one module each, idempotent and keyed by the partition (the Airflow data
interval): pull -> validate -> detect -> alert -> certify -> deliver. Their order, what each reads and
produces, is declared once in `mq.run.STAGES`; `mq.pipeline.Pipeline` holds what they share.

Each stage module has the stage as a function of small typed inputs (a `...Settings` built from the
config with `from_config`, the stores it uses, a Spark session only where it reads the tables) and a
`run_...(pipe, ...)` function, the orchestrator's side, that builds those inputs from the pipeline and
writes what the stage returns."""
from __future__ import annotations


def table_controls(config, table: str) -> tuple[str, ...]:
    """The SOX controls a table's pull and suite records evidence (none unless a SOX metric reads it)."""
    sox = [m for m, s in config.metrics.items() if s.table == table and s.sox]
    if not sox:
        return ()
    return (f"pull:{table}",) + ((f"suite:{table}",) if config.tables[table].suite else ())
