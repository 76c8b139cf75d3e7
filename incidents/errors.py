"""Errors of the incident workflow: the user can fix them, so they print as one line (exit 2)."""
from __future__ import annotations

from core.errors import MqError


class IncidentError(MqError):
    """A refused incident action (unknown id, a transition the workflow does not allow, a missing note)."""
