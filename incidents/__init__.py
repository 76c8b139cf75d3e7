"""Incidents: a notified group of alerts about one problem, with an owner, a status, evidence, a
timeline and a sign-off (see workflow.py for the states)."""
from incidents.book import Incident, IncidentBook, NewIncident, Ownership, incident_id
from incidents.errors import IncidentError
from incidents.workflow import ACTIONS, DISPOSITIONS, FINAL, STATUSES, next_status

__all__ = ["ACTIONS", "DISPOSITIONS", "FINAL", "Incident", "IncidentBook", "IncidentError", "NewIncident",
           "Ownership", "STATUSES", "incident_id", "next_status"]
