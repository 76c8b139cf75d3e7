"""`mq incidents`: list, show and work incidents from the command line.

    mq incidents list [--open] [--status S]
    mq incidents show INCIDENT_ID
    mq incidents ack INCIDENT_ID --by ana
    mq incidents assign INCIDENT_ID --to bo --by ana
    mq incidents resolve INCIDENT_ID --by bo --note "SDK 10.3 fix released; client counts back"
    mq incidents resolve INCIDENT_ID --by bo --note "10.4 logs screen views once" --accept-change
    mq incidents signoff INCIDENT_ID --by lead --disposition remediated --note "checked the re-run"
"""
from __future__ import annotations

from incidents.workflow import DISPOSITIONS, STATUSES

COMMANDS = frozenset({"incidents"})


def add_commands(sub) -> None:
    p = sub.add_parser("incidents", help="incidents: owner, status, evidence, timeline, sign-off",
                       description="Every notified group of alerts is an incident. Move it open -> acknowledged "
                                   "-> investigating -> resolved -> signed_off (or false_positive); every step "
                                   "is a ledger record.")
    isub = p.add_subparsers(dest="incidents_command", required=True, metavar="ACTION")
    ls = isub.add_parser("list", help="incidents, newest partition first")
    ls.add_argument("--open", action="store_true", help="only those not signed off")
    ls.add_argument("--status", choices=STATUSES)
    sh = isub.add_parser("show", help="evidence and timeline of one incident")
    sh.add_argument("id", metavar="INCIDENT_ID")
    for name, text in (("ack", "acknowledge: someone is looking"), ("assign", "give it to someone to investigate"),
                       ("resolve", "the problem is fixed or explained"),
                       ("signoff", "final review: disposition and note (closes it)")):
        a = isub.add_parser(name, help=text)
        a.add_argument("id", metavar="INCIDENT_ID")
        a.add_argument("--by", required=True, help="who does it")
        if name == "assign":
            a.add_argument("--to", required=True, help="the assignee")
        if name in ("resolve", "signoff"):
            a.add_argument("--note", required=True, help="cause and what was done" if name == "resolve"
                           else "what was checked and why this disposition")
        if name == "signoff":
            a.add_argument("--disposition", required=True, choices=DISPOSITIONS)
        if name == "resolve":
            a.add_argument("--accept-change", action="store_true",
                           help="the change is the new normal: the alerted slices' baselines restart at the "
                                "day it began, from the next run on (recorded in the ledger)")


def run(args, pipe, explain) -> int:
    """`pipe`: the application's pipeline for `args`; `explain(pipe, pair, partition)`: the `mq explain` text."""
    book, cmd = pipe.incidents, args.incidents_command
    if cmd == "list":
        found = book.list(status=args.status, open_only=args.open)
        for i in found:
            print(f"{i.id}  {i.status:14s} {i.severity:8s} owner={i.owner:18s} {i.title}")
        print(f"{len(found)} incident(s)")
    elif cmd == "show":
        _show(pipe, args.id, explain)
    else:
        t = book.act(args.id, cmd, by=args.by, note=getattr(args, "note", None), assignee=getattr(args, "to", None),
                     disposition=getattr(args, "disposition", None))
        print(f"{args.id}: {t.from_status} -> {t.to_status} ({t.reason}, by {args.by})")
        if getattr(args, "accept_change", False):
            for r in book.accept_change(args.id, by=args.by, note=args.note):
                since = min(x["baseline_since"] for x in r["accepted"])
                print(f"  {r['subject']}: new baseline from {since} on {len(r['accepted'])} slice(s)")
    return 0


def _show(pipe, iid: str, explain) -> None:
    from incidents.evidence import pipeline_evidence

    inc = pipe.incidents.get(iid)
    r = inc.row
    print(f"{inc.id}  {inc.title}")
    print(f"status: {inc.status}   owner: {inc.owner}   severity: {inc.severity}   assignee: {r['assignee'] or '-'}")
    if r["disposition"]:
        print(f"sign-off: {r['disposition']} by {r['signed_off_by']} at {r['signed_off_at']:%Y-%m-%d %H:%M}: "
              f"{r['signoff_note']}")
    print("\n".join(pipeline_evidence(pipe, iid, explain=explain).lines()))
    print("timeline:")
    for e in pipe.incidents.timeline(iid):
        who = f" by {e['by']}" if e.get("by") else ""
        note = f": {e['note']}" if e.get("note") else ""
        print(f"  {e['at'][:16]} #{e['seq']} {e['action']} -> {e['to']}{who}{note}")
