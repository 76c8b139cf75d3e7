"""The only module that talks to Great Expectations' context: run expectations on a Spark DataFrame.

One ephemeral, quiet context per process (analytics off, progress bars off, nothing written to
disk) with one Spark data source and one whole-DataFrame batch definition per table. Each run hands
an unsaved suite to GX's validator on that batch definition: the validator a Checkpoint would run,
without the Checkpoint's bookkeeping (registering a suite, a validation definition and a checkpoint,
checking each is fresh, storing every result in the context's results store), which cost about a
fifth of a small partition's validation and kept every result in memory for the life of the process.
A long-lived worker accumulates nothing.
"""
from __future__ import annotations

import logging
import os
import threading
import uuid
from typing import Any

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}
DATA_SOURCE = "mq_spark"


def quiet_gx() -> None:
    """Analytics off and GX's own loggers down to errors (call before importing GX)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    logging.getLogger("great_expectations").setLevel(logging.ERROR)


def context():
    """The process's ephemeral GX context, created on first use."""
    if "context" not in _STATE:
        quiet_gx()
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig)

        config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(),
                                   analytics_enabled=False,
                                   progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False))
        ctx = gx.get_context(mode="ephemeral", project_config=config)
        # GX would otherwise persist() every DataFrame it validates and never unpersist it: a
        # worker validating partition after partition would fill its memory. Caching is decided
        # (and undone) by the caller.
        ctx.data_sources.add_spark(DATA_SOURCE, persist=False)
        _STATE["context"] = ctx
    return _STATE["context"]


def _batch_definition(ctx, asset_name: str):
    source = ctx.data_sources.get(DATA_SOURCE)
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(asset_name)
    try:
        return asset.get_batch_definition("partition")
    except KeyError:
        return asset.add_batch_definition_whole_dataframe("partition")


def run_expectations(df, expectations: list, *, asset_name: str, result_format: Any) -> list:
    """Run GX `expectations` on Spark DataFrame `df`.

    Returns the ExpectationValidationResults in the order of `expectations` (each expectation's
    `meta["mq_position"]` ties the result back to it).
    """
    import great_expectations as gx
    from great_expectations.validator.v1_validator import Validator

    with _LOCK:
        ctx = context()
        batch_definition = _batch_definition(ctx, asset_name)
        suite = gx.ExpectationSuite(name=f"{asset_name}-{uuid.uuid4().hex[:12]}")   # never saved
        for position, expectation in enumerate(expectations):
            copy = expectation.copy(update={"meta": {**(expectation.meta or {}), "mq_position": position}})
            suite.add_expectation(copy)
        validator = Validator(batch_definition=batch_definition, batch_parameters={"dataframe": df},
                              result_format=result_format)
        suite_result = validator.validate_expectation_suite(suite)
    by_position = {r.expectation_config.meta["mq_position"]: r for r in suite_result.results}
    return [by_position[i] for i in range(len(expectations))]
