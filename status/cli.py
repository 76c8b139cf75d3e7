"""`mq status` (is a day's number certified?) and `mq serve` (the status page and Slack actions).

    mq status --date 2026-09-17 [--json]
    mq serve [--host 127.0.0.1] [--port 8765]          writes need $MQ_SERVE_TOKEN
"""
from __future__ import annotations

import json
import os

COMMANDS = frozenset({"status", "serve"})


def add_commands(sub, date_type) -> None:
    s = sub.add_parser("status", help="certification of every metric for one partition",
                       description="certified: every control passed; provisional: not yet run or late data "
                                   "expected; failed: a control failed (with the incident).")
    s.add_argument("--date", type=date_type, required=True, help="the partition, YYYY-MM-DD")
    s.add_argument("--json", action="store_true", help="one JSON object per metric")
    v = sub.add_parser("serve", help="the status page and the Slack interactivity endpoint",
                       description="Certification grid, open incidents with evidence and actions, history "
                                   "charts. Reads are open; every write needs the token from $MQ_SERVE_TOKEN "
                                   "(without it the page is read-only). Slack actions need "
                                   "$MQ_SLACK_SIGNING_SECRET.")
    v.add_argument("--host", default=os.environ.get("MQ_SERVE_HOST", "127.0.0.1"),
                   help="address to bind (default 127.0.0.1: this machine only)")
    v.add_argument("--port", type=int, default=int(os.environ.get("MQ_SERVE_PORT", "8765")))


def run(args, pipe, explain) -> int:
    """`pipe`: the application's pipeline for `args`; `explain(pipe, pair, partition)`: the `mq explain` text."""
    if args.command == "status":
        from status.certify import CertifySettings, statuses

        found = statuses(CertifySettings.from_config(pipe.config), pipe.store, args.date)
        if args.json:
            for s in found:
                print(json.dumps(s.to_json()))
        else:
            for s in found:
                inc = f"  [{', '.join(s.incidents)}]" if s.incidents else ""
                print(f"{s.subject:32s} {s.status:12s} {s.reason}{inc}")
        return 0
    import uvicorn

    from status.app import create_app

    client = None
    from alerting.receivers.slack import bot_token

    slack_token = bot_token()
    if slack_token:
        from slack_sdk import WebClient

        client = WebClient(token=slack_token, base_url=os.environ.get("MQ_SLACK_BASE_URL") or WebClient.BASE_URL)
    app = create_app(pipe, explain=explain, token=os.environ.get("MQ_SERVE_TOKEN"), slack_client=client,
                     slack_signing_secret=os.environ.get("MQ_SLACK_SIGNING_SECRET"),
                     status_url=os.environ.get("MQ_STATUS_URL"))
    print(f"status page on http://{args.host}:{args.port}/ ({'writes need the token' if app.state.writable else 'read-only'})")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
