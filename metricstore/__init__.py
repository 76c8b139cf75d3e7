"""Metric store: versioned metric points and the evidence of how they were produced."""
from metricstore.engine import make_engine
from metricstore.store import MetricStore, utcnow

__all__ = ["MetricStore", "make_engine", "utcnow"]
