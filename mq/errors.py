"""The exception hierarchy lives in `core.errors`; this module keeps `mq.errors` working."""
from core.errors import ConfigError, DeliveryError, LedgerError, MqError, PullError  # noqa: F401
