"""SOX controls: the registry of controls guarding `sox: true` metrics, their definition changes, the
exceptions of a period (failed executions, anomalies, missed runs) and their sign-off.

    from controls import ControlSettings, sync_controls, derive_exceptions, sign_off
    settings = ControlSettings.from_config(config)
    sync_controls(settings, ledger)                       # at the start of every run: records changes
    for e in derive_exceptions(settings, ledger, start, end, open_only=True): ...
    sign_off(settings, ledger, "schedule:daily@2026-10-03:missed", by="ana", disposition="remediated",
             note="...")

Everything is read from, or written to, the ledger: there is no second source of truth.
"""
from controls.changes import ControlChange, change_log, sync_controls
from controls.dispositions import DISPOSITIONS, Signoff
from controls.errors import ControlError, UnknownExceptionError
from controls.exceptions import ControlException, derive_exceptions, parse_exception_id
from controls.executions import ControlDay, Execution, exception_id, run_list
from controls.registry import SCHEDULE_CONTROL, Control, ControlSettings, build_registry
from controls.signoff import sign_off

__all__ = [
    "DISPOSITIONS", "SCHEDULE_CONTROL", "Control", "ControlChange", "ControlDay", "ControlError",
    "ControlException", "ControlSettings", "Execution", "Signoff", "UnknownExceptionError", "build_registry",
    "change_log", "derive_exceptions", "exception_id", "parse_exception_id", "run_list", "sign_off",
    "sync_controls",
]
