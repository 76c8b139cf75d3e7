"""The crash points live in `core.faults`; this module keeps `mq.faults` working."""
from core.faults import crash_point, reset  # noqa: F401
