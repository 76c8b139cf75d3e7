"""Control definition changes, recorded in the ledger (kind "control_change").

`sync_controls(settings, ledger)` compares the registry built from the current config with the latest definition
the ledger holds for each control and appends one record per difference: a new control ("added"), a
new version ("changed", with the fields that differ, before and after) or a control that left the
registry ("retired"). Unchanged definitions add nothing, so the pipeline can call it at the start of
every run. The key carries the version number, so a definition that changes back to an earlier one is
still recorded as a change.
"""
from __future__ import annotations

import dataclasses
import subprocess
from typing import Any

from controls.registry import ControlSettings
from ledger import LedgerRecord
from core.timeutil import utcnow

KIND = "control_change"


@dataclasses.dataclass(frozen=True)
class ControlChange:
    control_id: str
    change: str                  # added, changed, retired
    version: int
    definition_hash: str | None
    previous_hash: str | None
    fields: tuple[dict[str, Any], ...]
    record: LedgerRecord


def latest_definitions(ledger) -> dict[str, LedgerRecord]:
    """Control id -> its latest "control_change" record."""
    latest: dict[str, LedgerRecord] = {}
    for record in ledger.records(kind=KIND):
        latest[record.payload["control_id"]] = record
    return latest


def sync_controls(settings: ControlSettings, ledger, *, git_commit: str | None = None) -> list[ControlChange]:
    """Record every control definition that differs from the ledger's latest; returns what was recorded.
    `git_commit`: the commit to record; by default, the one checked out in the config's folder."""
    latest = latest_definitions(ledger)
    current = settings.by_id
    commit = git_commit if git_commit is not None else git_commit_of(settings.base_dir)
    context = {"config_hash": settings.config_hash, "git_commit": commit,
               "changed_at": utcnow().isoformat()}
    changes = []
    for control_id, control in current.items():
        before = latest.get(control_id)
        live = before is not None and before.payload["change"] != "retired"
        if live and before.payload["definition_hash"] == control.definition_hash:
            continue
        change = "changed" if live else "added"
        old = before.payload["definition"] if live else None
        changes.append(_append(ledger, control_id, change, before, control.definition_hash,
                               control.definition(), diff(old, control.definition()) if old else (), context))
    for control_id, before in latest.items():
        if control_id not in current and before.payload["change"] != "retired":
            changes.append(_append(ledger, control_id, "retired", before, None, None, (), context))
    return [c for c in changes if c.record.created]


def change_log(ledger) -> list[ControlChange]:
    """Every recorded definition change, oldest first."""
    return [_from_record(r) for r in ledger.records(kind=KIND)]


def diff(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> tuple[dict[str, Any], ...]:
    """Leaf-level differences of two definitions: ({"field": "precision.fdr_q", "before": .., "after": ..})."""
    out = []
    for key in sorted(set(before) | set(after)):
        b, a, name = before.get(key), after.get(key), f"{prefix}{key}"
        if isinstance(b, dict) and isinstance(a, dict):
            out.extend(diff(b, a, f"{name}."))
        elif b != a:
            out.append({"field": name, "before": b, "after": a})
    return tuple(out)


def _append(ledger, control_id, change, before, new_hash, definition, fields, context) -> ControlChange:
    version = before.payload["version"] + 1 if before is not None else 1
    previous = before.payload["definition_hash"] if before is not None else None
    label = new_hash[:16] if new_hash else "retired"
    record = ledger.append(KIND, f"control:{control_id}:v{version}:{label}", {
        "control_id": control_id, "change": change, "version": version, "definition_hash": new_hash,
        "previous_hash": previous, "definition": definition, "fields": list(fields), **context})
    return _from_record(record)


def _from_record(record: LedgerRecord) -> ControlChange:
    p = record.payload
    return ControlChange(control_id=p["control_id"], change=p["change"], version=p["version"],
                         definition_hash=p["definition_hash"], previous_hash=p["previous_hash"],
                         fields=tuple(p.get("fields") or ()), record=record)


def git_commit_of(folder) -> str | None:
    """The commit checked out in `folder` (None outside a git checkout, or without git)."""
    try:
        out = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
