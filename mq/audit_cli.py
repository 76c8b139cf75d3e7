"""Audit sub-commands of `mq`: the SOX controls, their exceptions and the sign-off of an exception.

    mq controls [--sync]                         the control registry; --sync records definition changes
    mq exceptions --start D1 --end D2 [--open]   failed executions, anomalies and missed runs of a period
    mq signoff EXCEPTION_ID --by NAME --disposition remediated --note "re-run passed"
"""
from __future__ import annotations

COMMANDS: frozenset[str] = frozenset({"controls", "exceptions", "signoff"})


def add_commands(sub, date_type) -> None:
    """Register the audit sub-commands on the `mq` parser."""
    from controls.dispositions import DISPOSITIONS

    c = sub.add_parser("controls", help="SOX controls: id, owner, frequency, definition version",
                       description="List every control that guards a metric or pair marked `sox: true`.")
    c.add_argument("--sync", action="store_true",
                   help="record changed control definitions in the ledger (the pipeline does this per run)")

    e = sub.add_parser("exceptions", help="exceptions of a period and their dispositions",
                       description="Every failed control execution, detector anomaly on a sox metric, failed "
                                   "run and missed daily run of [start, end], derived from the ledger.")
    e.add_argument("--start", type=date_type, required=True)
    e.add_argument("--end", type=date_type, required=True)
    e.add_argument("--open", action="store_true", help="only exceptions without a closing sign-off")

    s = sub.add_parser("signoff", help="record the disposition of an exception in the ledger",
                       description="Sign off one exception: who, which disposition, and what was checked. "
                                   "Every sign-off stays in the ledger; the latest one counts.")
    s.add_argument("exception_id", metavar="EXCEPTION_ID", help="as `mq exceptions` prints it")
    s.add_argument("--by", required=True, help="who signs off")
    s.add_argument("--disposition", required=True, choices=DISPOSITIONS)
    s.add_argument("--note", required=True, help="what was checked and why this disposition")


def run(args) -> int:
    """The pipeline of `args` gives the control settings of its config and its ledger; the commands
    read and write nothing else."""
    from controls import ControlSettings
    from mq.commands import _pipeline

    pipe = _pipeline(args)
    command = {"controls": _controls, "exceptions": _exceptions, "signoff": _signoff}[args.command]
    return command(ControlSettings.from_config(pipe.config), pipe.ledger, args)


def _controls(settings, ledger, args) -> int:
    from controls import sync_controls
    from controls.changes import latest_definitions

    if args.sync:
        changes = sync_controls(settings, ledger)
        print(f"recorded {len(changes)} control definition change(s)")
    recorded = latest_definitions(ledger)
    for c in settings.controls:
        rec = recorded.get(c.id)
        version = (f"v{rec.payload['version']}" if rec and rec.payload["definition_hash"] == c.definition_hash
                   else "unrecorded")
        print(f"{c.id:45s} {c.frequency:6s} owner={c.owner:18s} {version:10s} {c.definition_hash[:12]}")
    return 0


def _exceptions(settings, ledger, args) -> int:
    from controls import derive_exceptions
    from mq.errors import MqError

    if args.end < args.start:
        raise MqError(f"exceptions: --end {args.end} is before --start {args.start}")
    found = derive_exceptions(settings, ledger, args.start, args.end, open_only=args.open)
    for e in found:
        who = f" by {e.latest.by}" if e.latest else ""
        print(f"{e.id}  {e.status}  {e.disposition or '-'}{who}  owner={e.owner}  {e.detail}")
    print(f"{len(found)} {'open ' if args.open else ''}exception(s) in {args.start}..{args.end}")
    return 0


def _signoff(settings, ledger, args) -> int:
    from controls import sign_off

    s = sign_off(settings, ledger, args.exception_id, by=args.by, disposition=args.disposition, note=args.note)
    print(f"{s.exception_id}: {s.disposition} by {s.by} at {s.signed_at.isoformat()} "
          f"(ledger seq {s.record.seq})")
    return 0
