"""Root cause and side on the demo at scale: is the top cause the injected slice, and is the side right?

    .venv/bin/python bench/rca/demo_incidents.py [--days 160] [--daily-events 20000] [--per-kind 2]
        [--bot-spikes 4] [--seed 2026]

Generates the demo at scale with mq.demo (24 countries, 6 app versions per mobile platform, 6 event
types; `--per-kind` incidents of every kind plus `--bot-spikes` bot spikes) and pulls every day into a
metric store, both cached under bench/out/demo_incidents with bench/incident_recall.py's helpers
(imported, not copied). Then, on each incident's days, the diagnosis the alert would carry:

- discrepancies (logging loss, duplicate load, timezone shift, ratio drift's last day): the pair's
  `mq.stages.explain.diagnose`; truth: the injected slice, or "all slices (table-wide)" for the
  duplicate load and the timezone shift; side: client for losses and drifts, warehouse otherwise;
- a missing warehouse partition: the diagnosis must say the warehouse partition is missing;
- a bot spike: `mq.stages.explain_metric.localize_count` on both metrics; truth: its country x
  event type on both (side "both" is right when both metrics name it);
- a null spike: failing user_id counts per leaf from Spark on the client partition
  (`checks.concentration`); truth: "all slices" (the demo nulls a quarter of all client events).

Other kinds of bench/incident_recall.py's data (`--incident-recall DIR`): slice losses (five-day,
first and second on one slice, after a shock) are client losses on their slice, a timezone shock is
the warehouse, table-wide, and a slow drift is judged on its last day like a ratio drift.
`--incident-recall DIR` diagnoses the warehouse and metric store that bench/incident_recall.py cached
in DIR (its spec: 1,800 days, 12 incidents of each kind, no bot spikes), reading a copy of the store
made in `--out`: nothing is written to DIR.

The baseline days exclude holidays and the other incidents' days (ground truth here, where the
production path excludes the days its detectors flagged). A lasting incident is judged on its days so
far (`mq.stages.explain.diagnose(incident=...)`: baselines before its first day, each side pooled over
its days), again from ground truth where production reads the detectors' flags and drift starts
(`incident_days`): every day of a kind that moves the ratio one way on all its days (losses, drifts);
a timezone shift's or shock's two days move it opposite ways and are judged one by one.
`--one-day` judges every day alone, as before incidents were pooled. The table counts days (each
judged on its days so far, as that day's alert carries it) and incidents (each as it stands on its
last day, the statement over all its days that the incident record keeps; a kind judged day by day
is right when every one of its days is). The detectors are not run: this measures
the diagnosis given an alert, not recall (bench/incident_recall.py measures that).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def _incident_recall():
    """bench/incident_recall.py as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("incident_recall", REPO / "bench" / "incident_recall.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_recall = _incident_recall()
CONFIG, cached_generate, cached_pull, check_matches_demo = (
    _recall.CONFIG, _recall.cached_generate, _recall.cached_pull, _recall.check_matches_demo)

from checks.concentration import concentration, failing_counts  # noqa: E402
from mq.config import CalendarSpec, Holiday, load_config  # noqa: E402
from mq.demo import DemoSpec  # noqa: E402
from mq.stages.explain import ExplainSettings, diagnose, pair_history  # noqa: E402
from mq.stages.explain_metric import localize_count, metric_history  # noqa: E402
from rootcause.model import TABLE_WIDE  # noqa: E402


# Kinds whose days all move the ratio the same way (the rest last one day, or two opposite days).
ONE_WAY_KINDS = ("client_logging_loss", "ratio_drift", "slice_loss", "repeat_first", "repeat_second",
                 "post_shock_loss", "slow_drift")
# Kinds whose truth is a slice on the client side (the rest of the discrepancies are the warehouse's,
# table-wide: duplicate load, timezone shift, shock).
SLICE_KINDS = ("client_logging_loss", "ratio_drift", "slice_loss", "repeat_first", "repeat_second",
               "post_shock_loss", "slow_drift")


def _copy_recall_cache(source: Path, out: Path, spec: DemoSpec) -> None:
    """`out` reads bench/incident_recall.py's cache in `source`: the warehouse through a link (Spark
    only reads it), the metric store and its pull marker as copies (opening a store may write).
    Refuses unless both were made from `spec`, so that nothing is generated or pulled into `source`."""
    key = _recall._spec_key(spec)
    for marker in (source / "warehouse" / "generated.json", source / "pulled.json"):
        if not marker.exists() or marker.read_text() != key:
            raise SystemExit(f"{marker}: missing or made from another spec than {key} "
                             "(has bench/incident_recall.py finished there, with these options?)")
    import shutil

    out.mkdir(parents=True, exist_ok=True)
    link = out / "warehouse"
    if link.is_symlink() or link.exists():
        if not (link.is_symlink() and link.resolve() == (source / "warehouse").resolve()):
            raise SystemExit(f"{link} exists and is not a link to {source / 'warehouse'}: use another --out")
    else:
        link.symlink_to(source / "warehouse")
    for name in ("state.db", "state.db-wal", "state.db-shm", "pulled.json"):
        if (source / name).exists():
            shutil.copy2(source / name, out / name)
        else:
            (out / name).unlink(missing_ok=True)


def label(labels: dict) -> str:
    return " & ".join(f"{k}={v}" for k, v in labels.items()) if labels else TABLE_WIDE


def days_of(incident: dict) -> list[dt.date]:
    first, last = dt.date.fromisoformat(incident["start"]), dt.date.fromisoformat(incident["end"])
    return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=160)
    ap.add_argument("--daily-events", type=int, default=20_000)
    ap.add_argument("--per-kind", type=int, default=2)
    ap.add_argument("--bot-spikes", type=int, default=4)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out", default=str(REPO / "bench" / "out" / "demo_incidents"))
    ap.add_argument("--incident-recall", metavar="DIR",
                    help="diagnose the data bench/incident_recall.py cached in DIR (with its --days, "
                         "--daily-events, --per-kind and --seed) instead of generating")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--one-day", action="store_true", help="judge each day alone, not a lasting incident's days")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    os.environ["MQ_BENCH_DIR"] = str(out)
    if args.incident_recall:
        spec = DemoSpec(days=args.days, daily_events=args.daily_events, seed=args.seed, countries=24,
                        app_versions=6, event_types=6, incidents_per_kind=args.per_kind, baseline_kinds=True)
        _copy_recall_cache(Path(args.incident_recall).resolve(), out, spec)
    else:
        spec = DemoSpec(days=args.days, daily_events=args.daily_events, seed=args.seed, countries=24,
                        app_versions=6, event_types=6, incidents_per_kind=args.per_kind, bot_spikes=args.bot_spikes)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    truth, seconds = cached_generate(out / "warehouse", spec)
    print(f"generate: {spec.days} days, {len(truth['incidents'])} incidents" + (f" ({seconds:.0f} s)" if seconds else " (cached)"))
    holidays = [Holiday(date=dt.date.fromisoformat(i["start"]), name=i["id"])
                for i in truth["incidents"] if i["kind"] == "holiday"]
    config = load_config(CONFIG)
    check_matches_demo(config)
    config = config.model_copy(update={"calendar": CalendarSpec(holidays=holidays)})
    pipe = cached_pull(config, spec, out, seconds is not None)
    pair = next(iter(config.pairs))
    incident_days = {d for i in truth["incidents"] for d in days_of(i)}

    tally: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    per_incident: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    seconds_per_case: list[float] = []
    for incident in truth["incidents"]:
        kind, days = incident["kind"], days_of(incident)
        if kind == "holiday":
            continue
        checked = days[-1:] if kind in ("ratio_drift", "slow_drift") else days
        pooled = kind in ONE_WAY_KINDS and not args.one_day
        verdicts = []
        for day in checked:
            bad = (incident_days | set(config.holidays)) - {day}
            start = time.perf_counter()
            so_far = tuple(d for d in days if d <= day) if pooled else (day,)
            top, side, expected_side = _diagnose(pipe, pair, kind, incident, day, bad, so_far)
            seconds_per_case.append(time.perf_counter() - start)
            expected_top = label(incident["labels"]) if kind in SLICE_KINDS + ("bot_spike",) else TABLE_WIDE
            if kind == "missing_partition":
                expected_top = "missing warehouse partition"
            ok = (top == expected_top, side == expected_side)
            tally[kind].append(ok)
            verdicts.append(ok)
            if args.verbose or not all(ok):
                print(f"  {incident['id']} {day}: top {top!r} (truth {expected_top!r}), side {side!r} "
                      f"(truth {expected_side!r})")
        # The incident as it stands on its last day: a pooled kind's last diagnosis is a statement over
        # all its days (the incident record keeps it, `alerting.lifecycle.combine_impacts`); a kind
        # judged day by day is right when every day is.
        per_incident[kind].append(verdicts[-1] if pooled else
                                  (all(t for t, _ in verdicts), all(s for _, s in verdicts)))
    print(f"\n{'incident kind':<22} {'days':>5} {'top-1 right':>12} {'side right':>11}   {'incidents':>9} "
          f"{'top-1 right':>12} {'side right':>11}")
    for kind, results in sorted(tally.items()):
        n, whole = len(results), per_incident[kind]
        m = len(whole)
        print(f"{kind:<22} {n:>5} {sum(t for t, _ in results):>8}/{n:<3} {sum(s for _, s in results):>7}/{n:<3}"
              f"   {m:>9} {sum(t for t, _ in whole):>8}/{m:<3} {sum(s for _, s in whole):>7}/{m:<3}")
    print(f"\n{sum(seconds_per_case) / max(len(seconds_per_case), 1):.2f} s per diagnosis; "
          f"load average {os.getloadavg()[0]:.2f} at end")
    return 0


def _diagnose(pipe, pair: str, kind: str, incident: dict, day: dt.date, bad: set,
              so_far: tuple[dt.date, ...]) -> tuple[str, str, str]:
    """(top cause label, side, expected side) for one incident day; `so_far`: the incident's days up
    to `day`, judged together."""
    if kind == "bot_spike":
        tops = []
        for metric in ("client_events", "warehouse_events"):
            frame, dims, _ = metric_history(ExplainSettings.from_config(pipe.config), pipe.store, metric, day)
            causes, _ = localize_count(frame, dims, day, bad, metric=metric)
            tops.append(causes[0]["label"] if causes else "-")
        side = "both" if tops[0] == tops[1] == label(incident["labels"]) else "one side" if label(
            incident["labels"]) in tops else "-"
        return tops[1], side, "both"
    if kind == "null_spike":
        table = pipe.config.tables["client_events"]
        df = pipe.spark.read.parquet(str(pipe.config.resolve(table.path))).where(f"ds = '{day.isoformat()}'")
        dims = [d for d in pipe.config.dimensions if d in df.columns]
        leaves = failing_counts(df, [("expect_column_values_to_not_be_null", {"column": "user_id"})], dims)
        causes = concentration(leaves, dims, "failing_0")
        return (causes[0]["label"] if causes else "-"), "client", "client"
    wide, dims, _ = pair_history(ExplainSettings.from_config(pipe.config), pipe.store, pair, day, since=so_far[0])
    diagnosis = diagnose(wide, dims, day, bad, pair_name=pair, incident=so_far)
    if kind == "missing_partition":
        top = "missing warehouse partition" if diagnosis.status == "missing" and "warehouse" in diagnosis.summary else diagnosis.status
        return top, ("warehouse" if "warehouse partition" in diagnosis.summary else "-"), "warehouse"
    expected_side = "client" if kind in SLICE_KINDS else "warehouse"
    if diagnosis.status != "explained":
        return diagnosis.status, "-", expected_side
    if diagnosis.impact["side"] != expected_side:
        print(f"    side evidence: {diagnosis.impact['evidence']}")
    return diagnosis.causes[0]["label"], diagnosis.impact["side"], expected_side


if __name__ == "__main__":
    sys.exit(main())
