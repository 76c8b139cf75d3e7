"""doc_md, owners and tags of the DAGs, generated from the config (never a secret: no URLs, no tokens)."""
from __future__ import annotations

from mq.config import Config
from mq.run import STAGES


def owners(config: Config) -> str:
    """Every owner named in the config, comma-separated (Airflow shows each one)."""
    names = {t.owner for t in config.tables.values()} | {m.owner for m in config.metrics.values()}
    names |= {p.owner for p in config.pairs.values()}
    return ",".join(sorted(names))


def tags(config: Config, *extra: str) -> list[str]:
    out = ["metrics-quality", f"config:{config.source_path.rsplit('/', 1)[-1].removesuffix('.yml')}"]
    if any(m.sox for m in config.metrics.values()) or any(p.sox for p in config.pairs.values()):
        out.append("sox")
    return [t[:100] for t in out + list(extra)]


def _detectors(refs) -> str:
    return ", ".join(r.name for r in refs) or "none"


def daily_doc(config: Config, settings) -> str:
    tables = "\n".join(
        f"| `{name}` | {spec.owner} | `{spec.partition_column}` | {'yes' if spec.suite else 'no'} |"
        for name, spec in config.tables.items())
    metrics = "\n".join(
        f"| `{name}` | `{spec.table}` | {_detectors(spec.detectors)} | {'yes' if spec.sox else 'no'} | "
        f"{spec.description} |" for name, spec in config.metrics.items())
    pairs = "\n".join(
        f"| `{name}` | `{p.client}` / `{p.warehouse}` | {_detectors(p.detectors)} | "
        f"{p.row_ratio_band or '-'} | {p.description} |" for name, p in config.pairs.items())
    receivers = ", ".join(f"`{r.name}` ({'file' if r.file else 'slack' if r.slack else 'webhook'})"
                          for r in config.alerting.receivers) or "none"
    hours = settings.arrival_deadline.total_seconds() / 3600
    stages = " -> ".join(f"`{s.name}` ({s.doc})" for s in STAGES)
    return f"""\
### metrics-quality: daily run of `{config.source_path}`

Each run owns **one partition: the date of its data interval's start** (UTC). The run for the interval
[D, D+1) starts at D+1 00:00 and processes partition D, like `mq run --date D`.

**Stages** (library code, each idempotent for the partition): `pool` (the pool exists, else the run
fails at once with the command that creates it; `MQ_AIRFLOW_POOL_CHECK={settings.pool_check}`) -> wait
for each table's partition (deferrable; due {hours:g} h after the interval ends) -> {stages}
-> `record` (run record in the audit ledger).
A partition that has not landed by its deadline is *skipped* by its sensor; the pull then records it
missing and the alert stage raises a **freshness** alert.

**Catchup** is `{settings.catchup}`: a new or unpaused DAG runs only the latest interval. Load history with
`mq backfill` or `airflow backfill create --dag-id <this dag> --from-date ... --to-date ...`.
`max_active_runs={settings.max_active_runs}` keeps partitions in date order (detectors read the stored
history before a partition), and the Spark tasks share the pool `{settings.pool}` so backfills do not
starve the warehouse. To re-run partition D by hand, trigger with conf `{{"partition": "D"}}`.

| table | owner | partition column | expectation suite |
|---|---|---|---|
{tables}

| metric | table | detectors | SOX | description |
|---|---|---|---|---|
{metrics}

| pair | client / warehouse | detectors | row ratio band | description |
|---|---|---|---|---|
{pairs}

Receivers: {receivers}. Connections: `spark_default` (Spark master or Spark Connect),
`mq_state_store` (state store), `slack_api_default` (Slack bot token), `mq_airflow_api` (REST API for
the pool check; default: the API server this worker reports to).
"""


def verify_doc(config: Config) -> str:
    return f"""\
### metrics-quality: daily audit-ledger verification of `{config.source_path}`

Re-checks every hash and link of the ledger, and that it still holds the head hash and count seen by
the previous successful check (a ledger that only grew verifies; truncation or a rewrite does not).
A broken chain sends a critical notification to the root route's receiver and **fails** the task
without retries.
"""


def sizing_doc(config: Config) -> str:
    pairs = ", ".join(f"`{name}`" for name in sorted(config.pairs)) or "none"
    return f"""\
### metrics-quality: monthly under-count sizing of `{config.source_path}`

Each run owns the calendar month of its data interval (a closed period). It waits until every
partition of the month has a successful daily run (or until two days after the month ends), then
writes `sizing/`'s report for each pair ({pairs}): the steady-state under-count per monitored slice
with its interval, incident days sized apart, where the loss is, the trend by week and what fixing it
would recover, as HTML + CSV under `reports/sizing/<pair>/<first>_<last>/`.
"""


def report_doc(config: Config) -> str:
    return f"""\
### metrics-quality: monthly SOX evidence report of `{config.source_path}`

Each run owns the calendar month of its data interval (a closed period). It waits until every
partition of the month has a successful daily run (or until two days after the month ends), then
writes `reports/sox.py`'s HTML + CSV evidence, ending with the ledger's verification and head hash.
"""
