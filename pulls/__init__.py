"""Spark SQL metric pulls: one scan per table partition, all slices, with completeness evidence."""
from pulls.pull import TOTAL, PullResult, pull_partition, slice_key, table_plan
from pulls.tables import register_table, register_tables

__all__ = ["PullResult", "TOTAL", "pull_partition", "register_table", "register_tables",
           "slice_key", "table_plan"]
