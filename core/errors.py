"""The one exception hierarchy of metrics-quality.

Every error a user can cause (bad config, a missing table, a SQL error in a metric...) is an
`MqError` whose message names the file, the field and the offending value, so the CLI can print it
as one line and exit non-zero instead of a traceback.
"""
from __future__ import annotations


class MqError(Exception):
    """Base class: an error the user can act on. `str(err)` is the one-line message."""


class ConfigError(MqError):
    """A configuration or suite file is invalid. Names the file, the key path and the value."""

    def __init__(self, path: str, key: str, message: str, value: object = None) -> None:
        self.path, self.key, self.value = str(path), key, value
        shown = f" (got {value!r})" if value is not None else ""
        super().__init__(f"{self.path}: {key}: {message}{shown}")


class PullError(MqError):
    """A metric pull failed: unknown table or column, SQL error, no rows, missing partition."""


class DeliveryError(MqError):
    """A notification could not be delivered and needs a human fix (bad token, unknown channel)."""


class LedgerError(MqError):
    """The audit ledger is inconsistent or was asked to do something it refuses (edits, deletes)."""
