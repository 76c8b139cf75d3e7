"""What each `mq` sub-command does. Parsing lives in mq/cli.py; the work lives in the packages."""
from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from mq.config import load_config
from mq.errors import MqError
from mq.secrets import redact


def _pipeline(args, config=None):
    from mq.cli import config_path
    from mq.pipeline import Pipeline

    return Pipeline(config or load_config(config_path(args.config)))


def _progress(total: int, desc: str):
    from mq.progress import progress

    return progress(total, desc)


def _shown(path) -> str:
    """A path relative to the current folder when it is inside it (what the README shows), else as is."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# ---- demo ----------------------------------------------------------------------------
def cmd_demo(args) -> int:
    import os

    from mq.cli import config_path
    from mq.demo import DemoSpec, generate
    from mq.scoreboard import format_scoreboard, score_incidents

    path = config_path(args.config)
    # --out is the demo config's ${MQ_DEMO_DIR}: given to this load only, the process environment untouched.
    environ = {**os.environ, "MQ_DEMO_DIR": str(Path(args.out).resolve())} if args.out else None
    config = load_config(path, environ=environ)
    warehouse = config.workdir_path / "warehouse"
    spec = DemoSpec(days=args.days, daily_events=args.daily_events, seed=args.seed)
    with _progress(spec.days, "generate") as bar:
        truth = generate(warehouse, spec, progress=bar.update)
    print(f"demo warehouse: {_shown(warehouse)} ({truth['rows']['client_events']:,} client and "
          f"{truth['rows']['warehouse_events']:,} warehouse events)")
    if args.generate_only:
        return 0
    pipe = _pipeline(args, config)
    pipe.spark   # start the JVM before the bar: its start-up lines would break the bar's line
    with _progress(spec.days, "backfill") as bar:
        pipe.backfill(spec.dates[0], spec.dates[-1], progress=lambda day: bar.update(1, day.isoformat()))
    out = config.workdir_path
    export = out / "alerts" / "alerts.jsonl"
    n = export_alerts(pipe, export)
    from reports.sox import write_sox_report

    report = write_sox_report(pipe, spec.dates[0], spec.dates[-1], out / "report")
    sizing = _demo_sizing(pipe, spec.dates[0], spec.dates[-1], out / "sizing")
    rows, false = score_incidents(pipe, truth)
    print()
    print(format_scoreboard(rows, false))
    print(f"\nalerts:        {_shown(export)} ({n} alerts)")
    print(f"notifications: {_shown(out / 'alerts' / 'notifications.jsonl')}")
    print(f"audit report:  {_shown(report)}")
    print(f"sizing report: {_shown(sizing)}")
    return 0 if all(r["ok"] for r in rows) else 1


def _demo_sizing(pipe, start: dt.date, end: dt.date, out: Path) -> Path:
    """The demo pair's steady-state sizing report over the whole demo period (`mq report sizing`)."""
    from sizing import SizingSettings
    from sizing.report import write_sizing_report

    pair = next(iter(pipe.config.pairs))
    return write_sizing_report(SizingSettings.from_config(pipe.config, pair), pipe.store, start, end, out,
                               source=pipe.config.source_path)


# ---- runs ----------------------------------------------------------------------------
def cmd_run(args) -> int:
    summary = _pipeline(args).run(args.date, trigger="cli")
    print(json.dumps(summary, indent=2, default=str))
    return 0


def cmd_backfill(args) -> int:
    pipe = _pipeline(args)
    days = (args.end - args.start).days + 1
    pipe.spark   # start the JVM before the bar: its start-up lines would break the bar's line
    with _progress(days, "backfill") as bar:
        runs = pipe.backfill(args.start, args.end, progress=lambda day: bar.update(1, day.isoformat()))
    alerts = sum(r.get("alerts", {}).get("queued", 0) for r in runs)
    print(f"backfilled {len(runs)} partitions, {alerts} notifications queued")
    for r in runs:   # the partitions that did not go through cleanly, one line each
        for line in ([r["error"]] if r["status"] == "failed" else r.get("failed_inputs", [])):
            print(f"  {r['partition']} {r['status']}: {line}")
    return 1 if any(r["status"] == "failed" for r in runs) else 0


# ---- alerts --------------------------------------------------------------------------
def alert_records(pipe) -> list[dict]:
    """Alerts in the export schema documented in the README."""
    out = []
    for a in pipe.alerts.alerts():
        out.append({
            "id": a["id"], "fingerprint": a["fingerprint"], "kind": a["kind"], "severity": a["severity"],
            "status": a["status"], "metric": a["subject"], "labels": a["labels"],
            "partition": a["first_partition"].isoformat(), "last_partition": a["last_partition"].isoformat(),
            "resolved_partition": a["resolved_partition"].isoformat() if a["resolved_partition"] else None,
            "first_fired_at": a["first_fired_at"].isoformat(), "last_fired_at": a["last_fired_at"].isoformat(),
            "message": a["message"], "observed": a["observed"], "expected": a["expected"],
            "interval": [a["lower"], a["upper"]] if a["lower"] is not None else None,
            "impact": a["impact"], "root_causes": a["root_causes"] or [], "team": a["team"],
            "receiver": a["receiver"], "suppressed": a["suppressed"]})
    return out


def export_alerts(pipe, out: Path | None) -> int:
    records = alert_records(pipe)
    lines = "".join(json.dumps(r, default=str) + "\n" for r in records)
    if out is None:
        sys.stdout.write(lines)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(lines)
    return len(records)


def cmd_alerts(args) -> int:
    pipe = _pipeline(args)
    if args.alerts_command == "export":
        n = export_alerts(pipe, Path(args.out) if args.out else None)
        if args.out:
            print(f"wrote {n} alerts to {args.out}")
    elif args.alerts_command == "outbox":
        pending = pipe.outbox.pending()
        if not pending:
            print("outbox empty: every notification was delivered")
        for item in pending:
            print(f"#{item.id} {item.receiver} {item.action} attempts={item.attempts} "
                  f"next={item.next_attempt_at:%Y-%m-%d %H:%M} {item.title}"
                  + (f"\n    last error: {item.last_error}" if item.last_error else ""))
    elif args.alerts_command == "deliver":
        if getattr(args, "now", False):
            print(f"{pipe.outbox.make_due()} item(s) in backoff made due now")
        s = pipe.deliver()
        print(f"delivered {s.delivered}, retrying {s.retried}, needs a fix {s.failed_permanent}, pending {s.pending}")
    return 0


def cmd_silence(args) -> int:
    pipe = _pipeline(args)
    if args.silence_command == "add":
        matchers = {}
        for m in args.match:
            if "=" not in m:
                raise MqError(f"silence --match: expected LABEL=VALUE, got {m!r}")
            k, v = m.split("=", 1)
            matchers[k.strip()] = v.strip()
        s = pipe.alerts.silences.create(matchers, author=args.author, reason=args.reason, expires_at=args.expires)
        pipe.ledger.append("silence", f"silence:{s.id}:created", {
            "id": s.id, "matchers": s.matchers, "author": s.author, "reason": s.reason,
            "expires_at": s.expires_at.isoformat()})
        print(f"silence #{s.id} until {s.expires_at.isoformat()}: {matchers}")
    elif args.silence_command == "list":
        now = dt.datetime.now(dt.timezone.utc)
        if not pipe.alerts.silences.all():
            print("no silences")
        for s in sorted(pipe.alerts.silences.all(), key=lambda s: not s.active(now)):
            state = "active" if s.active(now) else "expired"
            print(f"#{s.id} {state:7s} until {s.expires_at:%Y-%m-%d %H:%M} {s.matchers} by {s.author}: {s.reason}")
    elif args.silence_command == "expire":
        s = pipe.alerts.silences.expire(args.id, by=args.by)
        pipe.ledger.append("silence", f"silence:{s.id}:expired", {"id": s.id, "expired_by": args.by,
                                                                   "expired_at": s.expired_at.isoformat()})
        print(f"silence #{s.id} expired by {args.by}")
    return 0


# ---- explain, report, ledger, checks, config ----------------------------------------
def cmd_explain(args) -> int:
    from mq.explain_view import explain

    pipe = _pipeline(args)
    if args.metric not in pipe.config.pairs:
        raise MqError(f"explain --metric: {args.metric!r} is not a pair; pairs: {sorted(pipe.config.pairs)}")
    text, code = explain(pipe, args.metric, args.date, chart=Path(args.chart) if args.chart else None)
    print(text)
    return code


def cmd_report(args) -> int:
    if args.report_command == "sizing":
        return _report_sizing(args)
    from reports.sox import write_sox_report

    path = write_sox_report(_pipeline(args), args.start, args.end, Path(args.out))
    print(f"wrote {path}")
    return 0


def _report_sizing(args) -> int:
    from sizing import SizingSettings
    from sizing.report import write_sizing_report

    pipe = _pipeline(args)
    settings = SizingSettings.from_config(pipe.config, args.pair)
    path = write_sizing_report(settings, pipe.store, args.start, args.end, Path(args.out), target=args.target,
                               source=pipe.config.source_path)
    print(f"wrote {path}")
    return 0


def cmd_capture(args) -> int:
    from sizing import SizingSettings
    from sizing.capture import capture_table

    pipe = _pipeline(args)
    table = capture_table(SizingSettings.from_config(pipe.config, args.pair), pipe.store, args.start, args.end,
                          args.slice_key)
    if table.empty:
        print(f"no stored counts for {args.slice_key or 'the pair'} between {args.start} and {args.end}",
              file=sys.stderr)
        return 1
    import pandas as pd

    for column in ("client", "warehouse", "warehouse_users", "missed_users"):   # counts print as counts
        if column in table:
            table[column] = table[column].round().astype("Int64")
    if args.format == "csv":
        table.to_csv(sys.stdout, index=False, float_format="%.6g")
    else:
        with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_columns", None):
            print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def cmd_ledger(args) -> int:
    pipe = _pipeline(args)
    if args.ledger_command == "verify":
        from ledger.anchor import anchor_problem, latest_anchor

        head, count, anchor = args.expected_head, args.expected_count, None
        if head is None and count is None and not args.no_anchor:
            anchor = latest_anchor(pipe.anchor_dir)   # by default: the last head copied outside the store
            if anchor is not None:
                head, count = anchor.hash, anchor.seq
        signer = pipe.ledger.signer
        v = pipe.ledger.verify(expected_head=head, expected_count=count, verifier=signer)
        problem = anchor_problem(anchor, pipe.ledger, signer) if v.ok and anchor is not None else None
        if problem:
            print(f"ledger BROKEN: {problem}", file=sys.stderr)
            return 1
        if v.ok:
            against = f"; matches anchor {anchor.path.name}" if anchor else ""
            signed = f"; signatures checked with key {signer.key_id}" if signer else ""
            print(f"ledger OK: {v.count} records, head {v.head_hash}{against}{signed}")
            return 0
        print(f"ledger BROKEN at record {v.first_bad_seq}: {v.problem}", file=sys.stderr)
        return 1
    path = pipe.ledger.export(args.out)
    print(f"wrote {path}")
    return 0


def cmd_checks(args) -> int:
    from pyspark.sql import functions as F

    from checks import suggest_suite

    pipe = _pipeline(args)
    if args.table not in pipe.config.tables:
        raise MqError(f"checks suggest --table: unknown table {args.table!r}; known: {sorted(pipe.config.tables)}")
    spec = pipe.config.tables[args.table]
    df = pipe.spark.table(args.table).where(F.col(spec.partition_column) == F.lit(args.date))
    text = suggest_suite(df, args.table)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote a starter suite to {args.out}; edit it, then point tables.{args.table}.suite at it")
    else:
        print(text)
    return 0


def cmd_config(args) -> int:
    from mq.cli import config_path

    path = config_path(args.config)
    c = load_config(path)
    print(f"{path}: OK ({len(c.tables)} tables, {len(c.metrics)} metrics, {len(c.pairs)} pairs, "
          f"{len(c.alerting.receivers)} receivers); state store {redact(c.state_url)}")
    return 0
