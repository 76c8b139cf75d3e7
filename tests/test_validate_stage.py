"""The validate stage as a function: settings from the config, the pulls it reads from a metric store on
an in-memory SQLite, its checks and ledger entries returned as data, written only by the orchestrator.
No Spark: the suites of these tests are on partitions whose pulls say they cannot be checked, and the
row-ratio checks are computed from the pulls' row counts."""
from __future__ import annotations

import datetime as dt

import pytest

from conftest import config_from_yaml
from mq.stages.validate import ValidateSettings, Validations, validate, write_validations

DAY = dt.date(2026, 9, 30)
CONFIG = """
version: 1
tables:
  client: {path: /data/client}
  warehouse: {path: /data/warehouse, suite: suites/warehouse.yml}
metrics:
  client_events: {table: client, sox: true}
  warehouse_events: {table: warehouse, sox: true}
pairs:
  client_vs_warehouse: {client: client_events, warehouse: warehouse_events, row_ratio_band: [0.9, 1.0]}
"""


@pytest.fixture
def settings(tmp_path) -> ValidateSettings:
    return ValidateSettings.from_config(config_from_yaml(tmp_path, CONFIG))


def pull(store, table: str, rows: int | None, status: str | None = None) -> None:
    """A stored pull of `table` for DAY with `rows` rows (None: the partition is missing)."""
    status = status or ("missing" if rows is None else "ok")
    store.record_pull({"table_name": table, "partition": DAY, "status": status, "row_count": rows or 0,
                       "content_hash": f"{table}:{rows}:{status}", "input_files": []}, None)


def test_settings_name_the_checks_of_the_config(settings, tmp_path):
    assert [(s.table, s.suite) for s in settings.suites] == [("warehouse", tmp_path / "suites/warehouse.yml")]
    (ratio,) = settings.ratios
    assert (ratio.suite, ratio.client_table, ratio.warehouse_table, ratio.low, ratio.high) == \
        ("client_vs_warehouse_row_ratio", "client", "warehouse", 0.9, 1.0)
    assert ratio.controls == ("pull:warehouse", "suite:warehouse")


def test_a_row_ratio_outside_its_band_fails_and_is_recorded_once(settings, stores):
    store, ledger = stores
    pull(store, "client", 800)
    pull(store, "warehouse", 1_000, status="ok")
    # The warehouse partition's suite would need Spark: this one is read by the ratio check only.
    found = validate(ValidateSettings(ratios=settings.ratios), store, DAY)
    assert isinstance(found, Validations)
    (check,) = found.checks
    assert not check.success and check.table == "warehouse"
    assert check.body["expectations"][0]["observed_value"] == 0.8
    assert check.entry.payload["failed"] == [check.body["expectations"][0]["expectation"]]
    assert check.entry.payload["controls"] == ["pull:warehouse", "suite:warehouse"]
    assert store.check_results().empty and not ledger.records()   # the stage itself wrote nothing

    write_validations(store, ledger, found, run_id="r1")
    write_validations(store, ledger, validate(ValidateSettings(ratios=settings.ratios), store, DAY), run_id="r2")
    assert len(store.check_results()) == 1                      # an identical re-run stores nothing new
    assert [r.kind for r in ledger.records()] == ["check"]
    assert not bool(store.check_results().success.iloc[0])


def test_a_ratio_within_its_band_passes(settings, stores):
    store, _ = stores
    pull(store, "client", 950)
    pull(store, "warehouse", 1_000)
    (check,) = validate(ValidateSettings(ratios=settings.ratios), store, DAY).checks
    assert check.success and check.entry.payload["failed"] == []


def test_a_late_row_count_is_a_new_result(settings, stores):
    store, ledger = stores
    pull(store, "client", 800)
    pull(store, "warehouse", 1_000)
    only_ratios = ValidateSettings(ratios=settings.ratios)
    write_validations(store, ledger, validate(only_ratios, store, DAY))
    pull(store, "client", 960)   # late client rows arrive: the ratio is back in its band
    write_validations(store, ledger, validate(only_ratios, store, DAY))
    assert store.check_results().success.astype(bool).tolist() == [False, True]
    assert len(ledger.records(kind="check")) == 2


@pytest.mark.parametrize("status", ["missing", "error"])
def test_a_missing_or_unreadable_partition_is_not_checked(settings, stores, status):
    store, _ = stores
    pull(store, "client", 800)
    pull(store, "warehouse", None if status == "missing" else 0, status=status)
    # No Spark is given: the warehouse suite would fail the stage if it tried to run.
    assert validate(settings, store, DAY).checks == ()


def test_an_unpulled_side_skips_the_ratio_check(settings, stores):
    store, _ = stores
    pull(store, "warehouse", 1_000)
    assert validate(ValidateSettings(ratios=settings.ratios), store, DAY).checks == ()


def test_a_suite_to_run_without_spark_is_a_clear_error(settings, stores):
    store, _ = stores
    pull(store, "warehouse", 1_000)
    with pytest.raises(ValueError, match="suite of table 'warehouse'.*no Spark session"):
        validate(settings, store, DAY)
