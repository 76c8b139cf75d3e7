"""Incident recall and noise of the production detectors on the demo at scale, with FDR control on and off.

    .venv/bin/python bench/incident_recall.py [--days 1800] [--daily-events 100000] [--per-kind 12] [--seed 2026]
        [--fdr both|config|off]

1. Generate the demo warehouse at scale (mq.demo, cached under bench/out/incident_recall while the spec is
   unchanged): 24 countries, 6 app versions per mobile platform, 6 event types, 730 days, and
   `--per-kind` incidents of every kind at random non-overlapping dates after 8 weeks of warm-up
   (ground truth in warehouse/incidents.json), plus the kinds that show whether baselines learn from
   incidents (mq.demo.BASELINE_KIND_DAYS: five-day slice losses, a second loss on the same slice 1-3
   weeks after a first, a timezone shock followed by a slice loss, slow drifts of 0.3-0.7%/day).
2. Pull every day with the production backfill pull (mq.stages.pull.run_range_pulls ->
   pulls.pull.pull_range: one Spark scan per table) into a fresh SQLite metric store (cached too;
   `--repull` redoes it).
3. Detect every day causally with the detectors of bench/incident_recall.yml (config/demo.yml's
   detectors and thresholds, checked at start, on the 575 slices of its `slices`): one
   detectors.runner.evaluate_subjects call over every metric and pair (one false-discovery family per
   day across all of them, as production) on the monitored slices, with the calendar's
   holidays (the generated ones), the minimum effects, the slice hierarchy and the clean-baseline
   settings, as mq/stages/detect.py scores a day; once with the config's fdr_q and once with
   fdr_q=None (each slice tested alone at p < 0.05).
4. Score against the ground truth:
   - an incident is found when an anomaly (any metric or pair) falls within its dates on its affected
     slice or on a slice containing it (an ancestor: for a logging loss on ios & 10.2 that is
     platform=ios or the total). Table-wide incidents (duplicate load, missing partition, timezone shift,
     null spike) affect the total. "on slice" counts anomalies on the affected slice itself; "delay" is
     days from the incident's first day to its first such anomaly (median over the found ones).
     A missing partition is a gap to the detectors by design; the freshness column counts pulls that
     reported it missing, which is what raises the production alert. The null spike changes no count:
     the client suite's not-null expectation is its control and is not run here.
   - a holiday is flagged when any slice has an anomaly on it (should be 0).
   - false alerts: slice-days with an anomaly on any metric or pair, where the slice-day is not covered
     by an incident (the day is in an incident's dates and the slice overlaps its affected slice, i.e.
     no dimension value disagrees), per 1,000 tested clean slice-days (a slice-day is tested when at
     least one detector gave it a verdict: not holidays, gaps or too little history). Those falling
     within 7 days after an incident on an overlapping slice are shown apart (baselines still holding
     the incident).
   - days: days with an anomaly on the incident's slice or an ancestor / days of the incident.
   - covered: those days plus the days an alert covers from a drift finding's estimated onset to the
     day it was found (`mq.stages.alert.drift_began`: a drift is clean on its first days and its
     incident begins at the onset), within the incident / days of the incident; "early": days such an
     onset put before the incident's real start (clean days an alert wrongly covers). The noise table
     adds the clean slice-days that false drift findings cover from their onsets.
   - false messages: the route groups by partition, so a day's anomalies are one message; a message
     is false when none of its anomalies is covered by an incident. Per 100 days (partition-days).
"""
from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from detectors import DetectorSpec  # noqa: E402
from detectors.runner import Subject, evaluate_subjects  # noqa: E402
from mq.config import CalendarSpec, DetectorRef, Holiday, load_config  # noqa: E402
from detectors.baseline import ancestors  # noqa: E402
from mq.demo import BASELINE_KIND_DAYS, BLOCK_KINDS, DIMENSIONS, INCIDENT_DAYS, DemoSpec, generate  # noqa: E402
from mq.pipeline import Pipeline  # noqa: E402
from mq.stages.detect import join_pair, monitored_groupings, subject_tables  # noqa: E402
from mq.stages.pull import run_range_pulls  # noqa: E402
from pulls.pull import TOTAL, slice_key  # noqa: E402

CONFIG = REPO / "bench" / "incident_recall.yml"
REPORT_KINDS = [k for k in INCIDENT_DAYS] + [
    kind for block in BASELINE_KIND_DAYS for kind in BLOCK_KINDS.get(block, (block,))]
ECHO_DAYS = 7
UNCORRECTED = "off"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=1800)
    ap.add_argument("--daily-events", type=int, default=100_000, help="warehouse events per day before trend")
    ap.add_argument("--per-kind", type=int, default=12, help="incidents of every kind")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out", default=str(REPO / "bench" / "out" / "incident_recall"))
    ap.add_argument("--repull", action="store_true", help="pull again into a fresh metric store")
    ap.add_argument("--pair-detectors", help="a what-if: the pairs' detectors instead of the demo's, e.g. "
                                              "ratio_binomial,ratio_drift (the demo config is not changed)")
    ap.add_argument("--fdr", choices=("both", "config", "off"), default="both",
                    help="detect with the config's fdr_q, with FDR off (p < 0.05 per slice), or both")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    os.environ["MQ_BENCH_DIR"] = str(out)
    spec = DemoSpec(days=args.days, daily_events=args.daily_events, seed=args.seed, countries=24,
                    app_versions=6, event_types=6, incidents_per_kind=args.per_kind, baseline_kinds=True)
    print(f"machine: {os.cpu_count()} cores, load average {_load()} at start; code: {_code_version()}")

    truth, seconds = cached_generate(out / "warehouse", spec)
    print(f"generate: {spec.days} days, {truth['rows']['warehouse_events']:,} warehouse and "
          f"{truth['rows']['client_events']:,} client rows, {len(truth['incidents'])} incidents"
          + (f" ({seconds:.0f} s)" if seconds else " (cached)"))

    holidays = [Holiday(date=dt.date.fromisoformat(i["start"]), name=i["id"])
                for i in truth["incidents"] if i["kind"] == "holiday"]
    config = load_config(CONFIG)
    check_matches_demo(config)
    config = config.model_copy(update={"calendar": CalendarSpec(holidays=holidays)})
    if args.pair_detectors:
        config = with_pair_detectors(config, args.pair_detectors.split(","))
        print(f"what-if: pairs use {args.pair_detectors} (not the demo's detectors)")
    pipe = cached_pull(config, spec, out, args.repull or seconds is not None)

    subjects = load_subjects(pipe, spec)
    labels = {k: lab for frame, _ in subjects.values() for k, lab in zip(frame.series_id, frame.labels)}
    print(f"slices monitored: {len(labels)} ({len(config.slices)} groupings of bench/incident_recall.yml)")
    results = {}
    modes = ((f"q={config.alerting.fdr_q:g}", config.alerting.fdr_q), (UNCORRECTED, None))
    modes = modes if args.fdr == "both" else modes[:1] if args.fdr == "config" else modes[1:]
    for mode, q in modes:
        t0 = time.perf_counter()
        results[mode] = detect(pipe, subjects, spec, q)
        print(f"detect ({'FDR ' + mode if q else 'FDR off, p < 0.05 per slice'}): every day of "
              f"{len(subjects)} subjects in {time.perf_counter() - t0:.0f} s")
    pair = subjects[next(iter(config.pairs))][0]
    volume = pair.groupby("series_id").denominator.sum()
    report(truth, results, labels, (volume / volume[TOTAL]).to_dict(), pipe, config)
    print(f"\nload average {_load()} at end")


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def cached_generate(folder: Path, spec: DemoSpec) -> tuple[dict, float | None]:
    """The ground truth, generating the warehouse unless it was generated from this very spec."""
    marker, key = folder / "generated.json", _spec_key(spec)
    if marker.exists() and marker.read_text() == key and (folder / "incidents.json").exists():
        return json.loads((folder / "incidents.json").read_text()), None
    marker.unlink(missing_ok=True)
    t0 = time.perf_counter()
    truth = generate(folder, spec)
    marker.write_text(key)
    return truth, time.perf_counter() - t0


def _spec_key(spec: DemoSpec) -> str:
    return json.dumps(asdict(spec), sort_keys=True, default=str)


def _code_version() -> str:
    import subprocess

    def git(*a: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "not a git checkout"
    dirty = git("status", "--porcelain", "--", "detectors", "pulls", "mq", "metricstore")
    return f"commit {head}" + (" + uncommitted changes" if dirty else "")


def check_matches_demo(config) -> None:
    """The bench measures the demo's detectors: refuse to run if the two configs drifted apart."""
    os.environ.setdefault("MQ_DEMO_DIR", str(REPO / "demo_out"))
    demo = load_config(REPO / "config" / "demo.yml")
    ours = {k: getattr(config.alerting, k) for k in ("fdr_q", "min_relative_effect", "min_absolute_effect",
                                                    "drift_horizon_days", "history_days")}
    theirs = {k: getattr(demo.alerting, k) for k in ours}
    for name in set(config.metrics) | set(demo.metrics):
        ours[name] = config.metrics[name].detectors if name in config.metrics else None
        theirs[name] = demo.metrics[name].detectors if name in demo.metrics else None
    for name in set(config.pairs) | set(demo.pairs):
        ours[name] = config.pairs[name].detectors if name in config.pairs else None
        theirs[name] = demo.pairs[name].detectors if name in demo.pairs else None
    differ = {k for k in ours if ours[k] != theirs[k]}
    if differ:
        raise SystemExit(f"bench/incident_recall.yml and config/demo.yml differ in {sorted(differ)}")


def with_pair_detectors(config, names: list[str]):
    """The config with every pair's detectors replaced by `names` (default parameters)."""
    pairs = {name: pair.model_copy(update={"detectors": [DetectorRef(name=n) for n in names]})
             for name, pair in config.pairs.items()}
    return config.model_copy(update={"pairs": pairs})


def cached_pull(config, spec: DemoSpec, out: Path, repull: bool) -> Pipeline:
    """A Pipeline on the metric store holding every day's pull (pulled again unless this spec's is there)."""
    marker, key = out / "pulled.json", _spec_key(spec)
    if repull or not marker.exists() or marker.read_text() != key:
        for stale in (marker, out / "state.db", out / "state.db-wal", out / "state.db-shm"):
            stale.unlink(missing_ok=True)
        pipe = Pipeline(config)
        t0 = time.perf_counter()
        run_range_pulls(pipe, spec.start, spec.end)   # one scan per table for all days
        pulls = pipe.store.pulls()
        print(f"pull: {len(pulls)} table partitions, {int(pulls.row_count.sum()):,} rows, one scan per table, "
              f"into {config.state_url} in {time.perf_counter() - t0:.0f} s")
        marker.write_text(key)
        return pipe
    print(f"pull: cached metric store {config.state_url}")
    return Pipeline(config)


def load_subjects(pipe, spec: DemoSpec) -> dict[str, tuple[pd.DataFrame, list[DetectorSpec]]]:
    """Every metric's and pair's monitored history for the whole range (the frames detect.py builds
    for one day from `history_days`; the detectors read no further back than that, checked here)."""
    cfg = pipe.config

    @functools.cache
    def points(metric: str) -> pd.DataFrame:
        return pipe.store.points([metric], spec.start, spec.end, groupings=monitored_groupings(pipe.config, metric))[
            ["slice_key", "partition", "labels", "value"]]

    out = {}
    for name, metric in cfg.metrics.items():
        out[name] = (points(name).rename(columns={"slice_key": "series_id"}), metric.detectors)
    for name, pair in cfg.pairs.items():
        frame = join_pair(points(pair.client), points(pair.warehouse)).rename(columns={"slice_key": "series_id"})
        out[name] = (frame, pair.detectors)
    for name, (_, refs) in out.items():
        for ref in refs:
            reach = DetectorSpec(ref.name, dict(ref.params)).build().lookback(7)
            if reach > cfg.alerting.history_days:
                raise SystemExit(f"{name}: {ref.name} reads {reach} days, more than history_days")
    return {name: (frame, [DetectorSpec(r.name, dict(r.params)) for r in refs]) for name, (frame, refs) in out.items()}


def detect(pipe, subjects, spec: DemoSpec, fdr_q: float | None) -> pd.DataFrame:
    """Every day of the range for every metric and pair, as mq/stages/detect.py scores a partition:
    one evaluate_subjects call, so each day's tests of all subjects are one false-discovery family."""
    a = pipe.config.alerting
    pulls = pipe.store.pulls()
    missing = pulls.loc[pulls.status != "ok"]
    prepared = {}
    for subject, (frame, specs) in subjects.items():
        cols = ["series_id", "partition", "value"] + (["denominator"] if "denominator" in frame else [])
        # As detect.py: a missing partition of the subject's tables is left out of every baseline.
        tables = subject_tables(pipe.config, subject)
        prepared[subject] = Subject(frame[cols], specs,
                                    excluded_days=set(missing.loc[missing.table_name.isin(tables), "partition"]),
                                    parents=ancestors(dict(zip(frame.series_id, frame.labels))))
    verdicts = evaluate_subjects(prepared, spec.start, spec.end, holidays=pipe.config.holidays, fdr_q=fdr_q,
                                 min_relative_effect=a.min_relative_effect,
                                 min_absolute_effect=a.min_absolute_effect,
                                 drift_horizon_days=a.drift_horizon_days,
                                 accept_after_days=pipe.config.detection.accept_change_after_days or None,
                                 wobble_z=a.hierarchy_wobble_z)
    # drift_start: a drift finding's estimated onset (the days its alert covers, `_covered`).
    found = pd.concat([v.assign(subject=s).reindex(columns=["subject", "series_id", "partition", "status", "detector",
                                                            "drift_start"])
                       for s, v in verdicts.items()], ignore_index=True)
    found["partition"] = pd.to_datetime(found["partition"]).dt.date
    return found


# ---- scoring --------------------------------------------------------------------------------------
def affected(incident: dict) -> dict[str, str]:
    return {k: v for k, v in incident["labels"].items() if k in DIMENSIONS}


def days_of(incident: dict, after: int = 0) -> list[dt.date]:
    """The incident's dates, or with `after` the `after` days following it."""
    first, last = dt.date.fromisoformat(incident["start"]), dt.date.fromisoformat(incident["end"])
    if after:
        return [last + dt.timedelta(days=k) for k in range(1, after + 1)]
    return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]


def overlaps(labels: dict, target: dict) -> bool:
    return all(labels[k] == v for k, v in target.items() if k in labels)


def contains(labels: dict, target: dict) -> bool:
    """The slice `labels` holds all of the slice `target` (it is target or one of its ancestors)."""
    return all(target.get(k) == v for k, v in labels.items())


def report(truth: dict, results: dict[str, pd.DataFrame], labels: dict[str, dict], shares: dict[str, float],
           pipe, config) -> None:
    covered, echo = set(), set()
    for inc in (i for i in truth["incidents"] if i["should_alert"]):
        keys = [k for k, lab in labels.items() if overlaps(lab, affected(inc))]
        covered.update((k, d) for k in keys for d in days_of(inc))
        echo.update((k, d) for k in keys for d in days_of(inc, after=ECHO_DAYS))
    echo -= covered
    grouping = {k: ",".join(lab) or TOTAL for k, lab in labels.items()}
    # False alerts per tested clean slice-day of each grouping: the chance that noise alone "finds" an incident.
    rates = {m: {g: _false_rate(part, covered)[2] for g, part in r.groupby(r.series_id.map(grouping), sort=False)}
             for m, r in results.items()}
    print_recall(truth["incidents"], results, labels, shares, rates, grouping, pipe)
    print_noise(results, covered, echo, config)
    print("\nfalse alerts per 1,000 tested clean slice-days, by grouping (any metric or pair)")
    print(f"{'grouping':34s} {'slices':>6s}" + "".join(f"  {'FDR ' + m:>10s}" for m in results))
    for g in rates[next(iter(rates))]:
        n = sum(1 for v in grouping.values() if v == g)
        print(f"{g:34s} {n:6d}" + "".join(f"  {1000 * rates[m][g]:10.2f}" for m in results))


def print_recall(incidents, results, labels, shares, rates, grouping, pipe) -> None:
    missing = {(r.table_name, r.partition) for r in pipe.store.pulls().itertuples() if r.status == "missing"}
    modes = list(results)
    print("\nrecall per incident kind (found / incidents; on slice = on the affected slice itself; delay = median "
          "days to the first anomaly; <7d = found within 7 days of onset; days = incident days alerted / incident "
          "days; chance = incidents noise alone would 'find' at the false-alert rates below)")
    print(f"{'kind':20s} {'n':>3s} {'affected slice':24s}" + "".join(f"  {'FDR ' + m:>50s}" for m in modes)
          + f"   found by (FDR {modes[0]})")
    print(f"{'':49s}" + "".join(f"  {'found':>7s} {'on slice':>8s} {'delay':>6s} {'<7d':>4s} {'days':>12s} "
                                f"{'covered':>12s} {'early':>5s} {'chance':>6s}" for _ in modes))
    for kind in REPORT_KINDS:
        group = [i for i in incidents if i["kind"] == kind]
        if not group:
            continue
        cells, by, missed, late, partial = [], {}, [], [], []
        for m in modes:
            anomalies = results[m][results[m].status == "anomaly"]
            hits = [_hits(anomalies, labels, inc) for inc in group]
            found = sum(1 for h in hits if not h.empty)
            if kind == "holiday":
                flagged = sum(len(_slice_days(h)) for h in hits)
                cells.append(f"  {found:>3d}/{len(group):<3d} {flagged:>8d} {'':>6s} {'':>4s} {'':>12s} {'':>12s} "
                             f"{'':>5s} {'':>6s}")
                continue
            exact = sum(1 for inc, h in zip(group, hits) if any(labels[k] == affected(inc) for k in h.series_id))
            delays = [(h.partition.min() - dt.date.fromisoformat(inc["start"])).days
                      for inc, h in zip(group, hits) if not h.empty]
            delay = f"{pd.Series(delays).median():.0f}d" if delays else "-"
            chance = sum(_chance(inc, labels, grouping, rates[m]) for inc in group)
            week = sum(1 for d in delays if d < 7)
            alerted = sum(h.partition.nunique() for h in hits)
            total = sum(len(days_of(inc)) for inc in group)
            days = f"{alerted}/{total} {alerted / max(total, 1):.0%}"
            spans = [_covered(anomalies, labels, inc) for inc in group]
            within = sum(len(c & set(days_of(inc))) for inc, c in zip(group, spans))
            early = sum(sum(1 for d in c if d < dt.date.fromisoformat(inc["start"])) for inc, c in zip(group, spans))
            cover = f"{within}/{total} {within / max(total, 1):.0%}"
            cells.append(f"  {found:>3d}/{len(group):<3d} {exact:>4d}/{len(group):<3d} {delay:>6s} {week:>4d} "
                         f"{days:>12s} {cover:>12s} {early:>5d} {chance:6.1f}")
            if m == modes[0]:
                partial = [(inc, len(c & set(days_of(inc))), len(days_of(inc)),
                            sum(1 for d in c if d < dt.date.fromisoformat(inc["start"])))
                           for inc, c in zip(group, spans)]
                partial = [p for p in partial if p[1] < p[2] or p[3]]
                for h in hits:
                    for subject in set(h.subject):
                        by[subject] = by.get(subject, 0) + 1
                missed = [inc for inc, h in zip(group, hits) if h.empty]
                late = [(inc, (h.partition.min() - dt.date.fromisoformat(inc["start"])).days)
                        for inc, h in zip(group, hits) if not h.empty]
                late = [(inc, d) for inc, d in late if d >= 7]
        note = ", ".join(f"{_short(s)} {n}" for s, n in sorted(by.items())) or "-"
        if kind == "missing_partition":
            fresh = sum(1 for i in group if (i["table"], dt.date.fromisoformat(i["start"])) in missing)
            note += f"; freshness (pull reported missing): {fresh}/{len(group)}"
        if kind == "null_spike":
            note += "; a null spike changes no count (its control is the not-null expectation)"
        if kind == "holiday":
            note = "holidays with any anomaly / flagged slice-days (in the calendar: must be 0)"
        where = ", ".join(affected(group[0])) or TOTAL
        print(f"{kind:20s} {len(group):3d} {where:24s}{''.join(cells)}   {note}")
        if missed and kind not in ("missing_partition", "null_spike"):
            print(f"{'':25s}missed (FDR {modes[0]}): " + ", ".join(
                f"{i['id']} {_slice_name(affected(i))} ({shares.get(_slice_name(affected(i)), 0):.1%} of events)"
                for i in missed))
        if partial and kind not in ("missing_partition", "null_spike"):
            print(f"{'':25s}covered less than all its days, or early (FDR {modes[0]}; covered/days, early): " + ", ".join(
                f"{i['id']} {c}/{n}" + (f" +{e} early" if e else "") for i, c, n, e in partial))
        if late:
            print(f"{'':25s}found 7 days or more after onset (FDR {modes[0]}): " + ", ".join(
                f"{i['id']} {_slice_name(affected(i))} ({shares.get(_slice_name(affected(i)), 0):.1%} of events"
                + (f", {i['params']['rate']:.2%}/day" if "rate" in i.get("params", {}) else "") + f") {d} d"
                for i, d in late))


def print_noise(results, covered: set, echo: set, config) -> None:
    modes = list(results)
    print(f"\nfalse alerts per 1,000 tested clean slice-days (outside incident dates and slices; "
          f"'echo' = within {ECHO_DAYS} days after an incident on an overlapping slice)")
    print(f"{'':44s}" + "".join(f"  {'FDR ' + m:>26s}" for m in modes))
    print(f"{'':44s}" + "".join(f"  {'false':>7s} {'/1,000':>7s} {'echo':>10s}" for _ in modes))
    subjects = [m for m, spec in config.metrics.items() if spec.detectors] + list(config.pairs)
    rows = [(f"{s} ({'+'.join(d.name for d in _detectors(config, s))})", [s], None) for s in subjects]
    # A subject with several detectors: each detector's own anomalies too (tested days are the subject's).
    rows += [(f"  of which {d.name}", [s], d.name) for s in subjects if len(_detectors(config, s)) > 1
             for d in _detectors(config, s)]
    tested = {}
    for name, chosen, detector in rows + [("any metric or pair, per slice-day", subjects, None)]:
        cells = []
        for m in modes:
            part = results[m][results[m].subject.isin(chosen)]
            if detector is not None:
                part = part[(part.detector == detector) | (part.status != "anomaly")]
            false, tested[m], rate = _false_rate(part, covered)
            cells.append(f"  {len(false):7d} {1000 * rate:7.2f} {len(false & echo):10d}")
        print(f"{name:44s}{''.join(cells)}")
    print(f"{'tested clean slice-days':44s}" + "".join(f"  {tested[m]:26,d}" for m in modes))
    # One message per partition (the route groups by partition): false when none of its anomalies is true.
    cells = []
    for m in modes:
        found = results[m][results[m].status == "anomaly"]
        true_days = {d for k, d in zip(found.series_id, found.partition) if (k, d) in covered}
        days = set(found.partition)
        n_days = results[m].partition.nunique()
        false_days = days - true_days
        cells.append(f"  {len(false_days):7d} {100 * len(false_days) / max(n_days, 1):7.2f} {len(days):10d}")
    print(f"{'false messages (days), per 100 days, messages':44s}{''.join(cells)}")
    # A false drift finding's alert covers the days since its estimated onset too: clean slice-days
    # whose certification it revokes (`mq.stages.alert.drift_began`).
    cells = []
    for m in modes:
        drifts = results[m][(results[m].status == "anomaly") & results[m].drift_start.notna()]
        spans = set()
        for key, start, day in zip(drifts.series_id, drifts.drift_start, drifts.partition):
            if (key, day) not in covered:
                first = pd.Timestamp(start).date()
                spans.update((key, first + dt.timedelta(days=k)) for k in range((day - first).days + 1))
        cells.append(f"  {len(spans - covered):7d} {1000 * len(spans - covered) / max(tested[m], 1):7.2f} {'':10s}")
    print(f"{'clean slice-days a false drift covers, /1,000':44s}{''.join(cells)}")


def _false_rate(verdicts: pd.DataFrame, covered: set) -> tuple[set, int, float]:
    """(false slice-days, tested clean slice-days, false per tested clean slice-day)."""
    tested = _slice_days(verdicts[verdicts.status.isin(("ok", "anomaly", "within_wobble"))]) - covered
    false = _slice_days(verdicts[verdicts.status == "anomaly"]) - covered
    return false, len(tested), len(false) / max(len(tested), 1)


def _chance(incident: dict, labels: dict, grouping: dict, rates: dict) -> float:
    """Probability that false alerts alone land on the slices and dates that would count as finding it."""
    quiet = 1.0
    for key, lab in labels.items():
        if contains(lab, affected(incident)):
            quiet *= (1 - rates[grouping[key]]) ** len(days_of(incident))
    return 1 - quiet


def _hits(anomalies: pd.DataFrame, labels: dict, incident: dict) -> pd.DataFrame:
    target = affected(incident)
    keys = [k for k, lab in labels.items() if contains(lab, target)]
    if incident["kind"] == "holiday":   # any anomaly on a holiday is a false alert
        keys = list(labels)
    return anomalies[anomalies.series_id.isin(keys) & anomalies.partition.isin(days_of(incident))]


def _covered(anomalies: pd.DataFrame, labels: dict, incident: dict) -> set[dt.date]:
    """The days an alert covers for the incident: its anomalies' days on the slice or an ancestor and,
    as the alert book opens an incident (`alerting.steps.notify`), from the estimated onset of the
    drift finding that opened it (the first of a run of days one series of one subject was flagged).
    """
    hits = _hits(anomalies, labels, incident)
    days = set(hits.partition)
    for _, rows in hits.sort_values("partition").groupby(["subject", "series_id"], sort=False):
        previous = None
        for start, day in zip(rows.drift_start, rows.partition):
            opens = previous is None or (day - previous).days > 1
            previous = day
            if opens and start is not None and not pd.isna(start):
                first = pd.Timestamp(start).date()
                days.update(first + dt.timedelta(days=k) for k in range((day - first).days + 1))
    return days


def _slice_name(labels: dict) -> str:
    """The slice key a pull gives the slice (its dimensions in table order)."""
    return slice_key({d: labels[d] for d in DIMENSIONS if d in labels})


def _slice_days(frame: pd.DataFrame) -> set:
    return set(zip(frame.series_id, frame.partition))


def _detectors(config, subject: str):
    spec = config.metrics.get(subject) or config.pairs.get(subject)
    return spec.detectors


def _short(subject: str) -> str:
    return {"client_events": "client", "warehouse_events": "warehouse",
            "client_vs_warehouse_events": "ratio"}.get(subject, subject)


if __name__ == "__main__":
    sys.exit(main())
