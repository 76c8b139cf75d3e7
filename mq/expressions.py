"""Metric SQL confinement lives in `core.expressions`; this module keeps `mq.expressions` working."""
from core.expressions import REFUSED_FUNCTIONS, SPARK_ONLY_AGGREGATES, ExpressionError, check_aggregate, check_condition  # noqa: F401
