"""`mq`: the command line of metrics-quality.

Every sub-command reads the same YAML config (`--config`, or $MQ_CONFIG, or ./mq.yml, or the bundled
demo config). Errors the user can fix print one line naming the file, key and value, and exit 2.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from core.timeutil import assume_utc
from mq.errors import MqError

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "config" / "demo.yml"

EPILOG = """\
examples:
  mq demo                                   generate the demo warehouse, backfill it, write alerts and a report
  mq run --date 2026-09-17                  one scheduled run: pull, validate, detect, alert, deliver
  mq backfill --start 2026-08-03 --end 2026-10-11
  mq alerts export --format jsonl --out alerts.jsonl
  mq explain --metric client_vs_warehouse_events --date 2026-09-17
  mq silence add --match platform=android --author ana --reason "SDK fix rolling out" --expires 2026-09-20
  mq report sox --start 2026-08-01 --end 2026-10-31 --out report/
  mq report sizing --start 2026-08-01 --end 2026-10-31 --out sizing/ --target 0.99
  mq ledger verify

configuration: --config FILE, else $MQ_CONFIG, else ./mq.yml, else the bundled demo config.
state store:   $MQ_STATE_URL overrides state_store.url (sqlite:///path.db or postgresql://user@host/db).
"""

SIZING_HELP = """\
Size the steady-state under-count of a client-vs-warehouse pair over a period, from the counts the
metric store already holds (run `mq backfill` over the period first).

For every monitored slice: capture = client / warehouse and under-count = warehouse - client, summed
over the slice's steady-state days, in events, per day and as a % of the reported metric (the
warehouse count), each with a 95% interval (circular block bootstrap over days, blocks of a week).
A slice-day is NOT steady state when an alert overlapping the slice was firing (the alert book: the
pair's discrepancies, its metrics' anomalies, expectation or freshness alerts on its tables), a pull
was missing or failed, or it is a calendar holiday; those days' losses are listed apart.

The report also has: where the loss is (the root-cause localiser on the leaf cube, cut into parts
that add up to the total), the trend by week with intervals, the capture before and after each app
version's rollout (with pairs.<name>.version_dimension), and what-if: the events per day recovered by
bringing each slice's capture to --target, or by default to its best sibling's (e.g. the best app
version of the same platform). The page says how these figures were computed, in a paragraph to cite.

  out/index.html        the report
  out/slices.csv        steady-state figures per monitored slice
  out/daily.csv         every slice and day, with why a day was excluded
  out/incident_losses.csv, out/pareto.csv, out/weekly.csv, out/what_if.csv, out/rollouts.csv
  out/users.csv, out/users_daily.csv   for a pair with a user_column: users the warehouse saw that the
                        client never logged, per slice (per day, with the interval) and per slice and day
                        (user capture = 1 - missed / warehouse users)

example:
  mq report sizing --start 2026-08-03 --end 2026-10-11 --out sizing/ --target 0.99
"""


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _when(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or YYYY-MM-DDTHH:MM, got {text!r}") from None
    return assume_utc(value)


CAPTURE_HELP = """The client/warehouse capture rate of every monitored slice and day, read back from the metric
store (latest version of each point): client and warehouse events and capture = client / warehouse;
with pairs.<name>.user_column, the warehouse's distinct users, those the client missed and the user
capture; with a completeness curve on the client table, completeness_d<k>, the share of the final
client count arrived by the end of D+k. `excluded` / `reason`: whether `mq report sizing` counts the
day as steady state, and why not.

examples:
  mq capture --start 2026-09-01 --end 2026-09-30 --slice platform=android
  mq capture --start 2026-09-01 --end 2026-09-30 --format csv > capture.csv
"""


def _pair_period(parser: argparse.ArgumentParser, pair_help: str) -> None:
    """--start, --end and --pair of a command that reads one pair over a period."""
    parser.add_argument("--start", type=_date, required=True, help="first partition, YYYY-MM-DD")
    parser.add_argument("--end", type=_date, required=True, help="last partition, YYYY-MM-DD")
    parser.add_argument("--pair", help=pair_help)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mq", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="metrics-quality: reconcile client-logged and warehouse counts, detect data incidents, "
                    "route alerts without noise, and keep audit evidence.")
    p.add_argument("--config", help="YAML config file (see README: Configuration reference)")
    p.add_argument("--log-level", default=os.environ.get("MQ_LOG_LEVEL", "warning"),
                   choices=["debug", "info", "warning", "error"])
    p.add_argument("--log-format", default=os.environ.get("MQ_LOG_FORMAT", "human"), choices=["human", "json"])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="generate the demo warehouse and run the whole pipeline on it",
                       description="Generate two Parquet event tables with injected incidents, backfill every "
                                   "day through the pipeline, export the alerts, write the audit and sizing reports and "
                                   "print which incidents were alerted.")
    d.add_argument("--out", default=None, help="demo folder (default: demo_out/ beside the config's folder)")
    d.add_argument("--days", type=int, default=70, help="days of data (>= 56; default 70)")
    d.add_argument("--daily-events", type=int, default=20_000, help="warehouse events per day (default 20000)")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--generate-only", action="store_true", help="write the data and stop")

    r = sub.add_parser("run", help="run every stage for one partition (one scheduled run)")
    r.add_argument("--date", type=_date, required=True, help="the partition, YYYY-MM-DD")

    b = sub.add_parser("backfill", help="run every partition in a date range, oldest first")
    b.add_argument("--start", type=_date, required=True)
    b.add_argument("--end", type=_date, required=True)

    a = sub.add_parser("alerts", help="export alerts, show the delivery outbox, retry deliveries")
    asub = a.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    ex = asub.add_parser("export", help="one JSON object per alert (schema in the README)")
    ex.add_argument("--format", choices=["jsonl"], default="jsonl")
    ex.add_argument("--out", help="file to write (default: stdout)")
    asub.add_parser("outbox", help="notifications not yet delivered, with their last error")
    dl = asub.add_parser("deliver", help="deliver what is due in the outbox (--now: everything pending)")
    dl.add_argument("--now", action="store_true", help="also retry items still waiting out their backoff")

    s = sub.add_parser("silence", help="mute alerts by labels, with a reason and an expiry")
    ssub = s.add_subparsers(dest="silence_command", required=True, metavar="ACTION")
    sa = ssub.add_parser("add", help="create a silence")
    sa.add_argument("--match", action="append", required=True, metavar="LABEL=VALUE",
                    help="label matcher; repeat for several; VALUE starting with ~ is a regex")
    sa.add_argument("--author", required=True)
    sa.add_argument("--reason", required=True)
    sa.add_argument("--expires", type=_when, required=True, help="when it stops (mandatory)")
    ssub.add_parser("list", help="all silences, active first")
    se = ssub.add_parser("expire", help="end a silence now")
    se.add_argument("id", type=int)
    se.add_argument("--by", required=True)

    e = sub.add_parser("explain", help="root cause and impact of a pair's discrepancy on one day")
    e.add_argument("--metric", required=True, help="a pair name (client vs warehouse)")
    e.add_argument("--date", type=_date, required=True)
    e.add_argument("--chart", help="write a PNG of observed vs expected per top slice here")

    rep = sub.add_parser("report", help="audit reports")
    rsub = rep.add_subparsers(dest="report_command", required=True, metavar="KIND")
    sox = rsub.add_parser("sox", help="HTML + CSV evidence of every control run in a period")
    sox.add_argument("--start", type=_date, required=True)
    sox.add_argument("--end", type=_date, required=True)
    sox.add_argument("--out", required=True)
    sizing = rsub.add_parser(
        "sizing", help="how many events the client side under-counts in steady state, where, and what fixing "
                       "it would recover (HTML + CSV)",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=SIZING_HELP)
    _pair_period(sizing, "the pair to size (required when the config has several)")
    sizing.add_argument("--out", required=True, help="folder for index.html and the CSVs (created if needed)")
    sizing.add_argument("--target", type=float, metavar="CAPTURE",
                        help="what-if target capture, e.g. 0.99 (default: each slice's best sibling's capture)")

    cap = sub.add_parser(
        "capture", help="the stored capture rates of a pair per monitored slice and day (client / warehouse "
                        "events; users and completeness where configured)",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=CAPTURE_HELP)
    _pair_period(cap, "the pair (required when the config has several)")
    cap.add_argument("--slice", dest="slice_key", metavar="KEY",
                     help="one slice only, as the store names it: '(total)', 'platform=ios', "
                          "'platform=android&app_version=10.3'")
    cap.add_argument("--format", choices=["table", "csv"], default="table", help="table (default) or CSV")

    lg = sub.add_parser("ledger", help="verify or export the tamper-evident audit ledger")
    lsub = lg.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    lv = lsub.add_parser("verify", help="check the hash chain, the signatures and the latest anchor; "
                                        "names the first bad record")
    lv.add_argument("--expected-head", help="a head hash kept from an earlier report (detects truncation)")
    lv.add_argument("--expected-count", type=int, help="the record count of that report (names where a cut starts)")
    lv.add_argument("--no-anchor", action="store_true",
                    help="do not check against the latest anchor file (checked by default)")
    lx = lsub.add_parser("export", help="write a self-verifying archive")
    lx.add_argument("--out", required=True)

    c = sub.add_parser("checks", help="expectation suites")
    csub = c.add_subparsers(dest="checks_command", required=True, metavar="ACTION")
    cs = csub.add_parser("suggest", help="profile a partition and write a starter suite to edit")
    cs.add_argument("--table", required=True)
    cs.add_argument("--date", type=_date, required=True)
    cs.add_argument("--out", help="file to write (default: stdout)")

    sub.add_parser("config", help="validate the config and print a summary")
    from mq import audit_cli

    audit_cli.add_commands(sub, _date)
    from incidents import cli as incidents_cli
    from status import cli as status_cli

    incidents_cli.add_commands(sub)
    status_cli.add_commands(sub, _date)
    return p


def config_path(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    if os.environ.get("MQ_CONFIG"):
        return Path(os.environ["MQ_CONFIG"])
    return Path("mq.yml") if Path("mq.yml").is_file() else DEMO_CONFIG


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy import exc as sa_exc

    from mq.logs import setup_logging
    from mq.secrets import redact

    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    try:
        from mq import audit_cli, commands

        if args.command in audit_cli.COMMANDS:
            return audit_cli.run(args) or 0
        from incidents import cli as incidents_cli
        from status import cli as status_cli

        for extra in (incidents_cli, status_cli):
            if args.command in extra.COMMANDS:
                from mq.explain_view import explain

                return extra.run(args, commands._pipeline(args),
                                 lambda pipe, pair, partition: explain(pipe, pair, partition)[0]) or 0
        return getattr(commands, f"cmd_{args.command}")(args) or 0
    except MqError as exc:
        print(f"mq: error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except sa_exc.DBAPIError as exc:   # the state store is down, refuses us, or the URL is wrong
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        print(f"mq: error: state store: {redact(reason)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
