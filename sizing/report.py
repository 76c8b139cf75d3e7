"""The sizing report of a pair and period: one HTML page for people, one CSV per table.

    out/index.html, out/slices.csv, out/daily.csv, out/incident_losses.csv, out/pareto.csv,
    out/weekly.csv, out/what_if.csv, out/rollouts.csv, out/completeness.csv; for a pair with a user
    column also out/users.csv, out/users_daily.csv
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd

import reports

from core.errors import MqError
from reports.charts import png_base64
from reports.html import table
from sizing import charts, lateness
from sizing.data import PairCounts, SizingSettings, read_counts
from sizing.estimate import BLOCK_DAYS, CONFIDENCE, REPLICATES, Bootstrap, incident_losses, size_slices
from sizing.pareto import pareto
from sizing.rollout import ROLLOUT_SHARE, WINDOW_DAYS, rollouts
from sizing.users import USER_COUNT_COLUMNS, user_frames, users_headline
from sizing.whatif import weekly_trend, what_if

# The page's own template, and the style it shares with the other reports (reports/report.css).
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader([Path(__file__).parent, Path(reports.__file__).parent]),
                          autoescape=True, undefined=jinja2.StrictUndefined)
CSVS = ("slices", "daily", "incident_losses", "pareto", "weekly", "what_if", "rollouts")
USER_CSVS = ("users", "users_daily")   # written when the pair stores users (sizing/users.py)
EVENT_COLUMNS = ("client", "warehouse", "under_count", "under_count_low", "under_count_high", "per_day",
                 "incident_under_count", "recovered", "recovered_low", "recovered_high", "per_day_low",
                 "per_day_high")
# Late vs lost (sizing.lateness): its own table and events.
CSVS += ("completeness",)
EVENT_COLUMNS += lateness.EVENT_COLUMNS


@dataclass(frozen=True)
class Sizing:
    """Every table of the report, as computed (unrounded)."""
    counts: PairCounts
    frames: dict[str, pd.DataFrame]
    target: float | None


def compute(settings: SizingSettings, store, start: dt.date, end: dt.date, target: float | None = None) -> Sizing:
    """All tables of the report of [start, end]."""
    if end < start:
        raise MqError(f"report sizing: --end {end} is before --start {start}")
    if target is not None and not 0 < target <= 1:
        raise MqError(f"report sizing --target: a capture rate in (0, 1], got {target}")
    counts = read_counts(settings, store, start, end)
    if counts.slices.empty:
        raise MqError(f"report sizing: no points of {settings.client} and {settings.warehouse} between {start} "
                      f"and {end} in the metric store (run `mq backfill --start {start} --end {end}` first)")
    boot = Bootstrap.for_days(len(counts.days))
    rows = counts.slices
    daily = rows.assign(under_count=rows.warehouse - rows.client,
                        capture=rows.client / rows.warehouse.where(rows.warehouse > 0))
    frames = {"slices": size_slices(counts, boot),
              "daily": daily[["partition", "grouping", "slice_key", "client", "warehouse", "capture", "under_count",
                              "excluded", "reason"]],
              "incident_losses": incident_losses(counts), "pareto": pareto(counts, boot),
              "weekly": weekly_trend(counts), "what_if": what_if(counts, target, boot),
              "rollouts": rollouts(counts)}
    frames["completeness"] = lateness.late_vs_lost(counts, lateness.read_arrivals(counts, store), boot)
    frames.update(user_frames(counts, store, boot))
    return Sizing(counts, frames, target)


def rounded(frame: pd.DataFrame) -> pd.DataFrame:
    """Events to 0.1, rates and shares to 6 decimals: what the CSVs and the page show."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(1 if col in EVENT_COLUMNS else 6)
    return out


SHARE_COLUMNS = ("capture", "typical_capture", "compared_capture", "target", "localiser_share", "share_of_loss",
                 "cumulative_share", "capture_low", "capture_high", "share_after", "capture_before", "capture_after",
                 "version_capture_after", "change", "change_low", "change_high")
# The users section's counts read as events do, its capture as a share (sizing/users.py).
EVENT_COLUMNS += USER_COUNT_COLUMNS
SHARE_COLUMNS += ("user_capture",)


def shown(frame: pd.DataFrame) -> pd.DataFrame:
    """What the page shows (the CSVs keep `rounded`'s figures): events as whole numbers with thousands
    separators, captures and shares as percentages, `pct_*` columns with a % sign."""
    out = frame.copy().astype(object)
    for col in frame.columns:
        if not pd.api.types.is_float_dtype(frame[col]):
            continue
        if col in EVENT_COLUMNS:
            fmt = "{:,.0f}"
        elif col in SHARE_COLUMNS:
            fmt = "{:.2%}"
        elif col.startswith("pct"):
            fmt = "{:.2f}%"
        else:
            continue
        out[col] = [fmt.format(v) if pd.notna(v) else "" for v in frame[col]]
    return out


def write_sizing_report(settings: SizingSettings, store, start: dt.date, end: dt.date, out: Path, *,
                        target: float | None = None, source: str = "") -> Path:
    """Write the report into folder `out`; returns the path of index.html. `source`: the config's path,
    named on the page."""
    return compute_and_write(settings, store, start, end, out, target=target, source=source)[0]


def compute_and_write(settings: SizingSettings, store, start: dt.date, end: dt.date, out: Path, *,
                      target: float | None = None, source: str = "") -> tuple[Path, dict]:
    """`write_sizing_report`, also returning the total's headline figures."""
    sized = compute(settings, store, start, end, target)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in written_csvs(sized):
        rounded(sized.frames[name]).to_csv(out / f"{name}.csv", index=False)
    (out / "index.html").write_text(render(sized, source), encoding="utf-8")
    return out / "index.html", {k: (float(v) if isinstance(v, (int, float)) else v)
                                for k, v in headline(sized).items()}


def written_csvs(sized: Sizing) -> list[str]:
    """The CSVs of the report: every table, and the users' tables when the pair stores users."""
    return [*CSVS, *(n for n in USER_CSVS if n in sized.frames)]


def headline(sized: Sizing) -> dict:
    """The total's steady-state figures (the first row of `slices`)."""
    total = sized.frames["slices"]
    total = total[total.grouping == ""]
    return total.iloc[0].to_dict() if len(total) else {}


def method_text(sized: Sizing) -> str:
    """The paragraph an analyst can cite: model, window, exclusions, interval."""
    c, s = sized.counts, sized.counts.settings
    h = headline(sized)
    days = len(c.days)
    excluded = c.slices[(c.slices.grouping == "") & c.slices.excluded]
    reasons = sorted({r.split(":")[0].split(" (")[0] for r in excluded.reason})
    target = (f"a capture of {sized.target:.1%} given on the command line" if sized.target is not None else
              "the capture of the slice's best sibling (same values on every dimension but the last, highest "
              "steady-state capture)")
    return (
        f"Figures for pair {s.pair} ({s.client} over {s.warehouse}), partitions {c.start} to {c.end} "
        f"({days} days), read from the metric store (latest version of every partition). Capture is "
        f"sum(client) / sum(warehouse) over a slice's steady-state days and the under-count is "
        f"sum(warehouse) - sum(client), in events and as a % of the reported metric (the warehouse count). "
        f"A slice-day is not steady state when an alert of the alert book on {s.pair}, {s.client} or "
        f"{s.warehouse} that overlaps the slice (the slice itself, an ancestor, a descendant or a slice that "
        f"shares events with it) was firing, when an expectation or freshness alert was firing on "
        f"{', '.join(sorted(s.tables))}, when a pull was missing or failed, or on a calendar holiday; those "
        f"days' losses are listed apart (incident losses). The total had {h.get('steady_days', 0)} steady-state "
        f"days and {len(excluded)} excluded ({', '.join(reasons) or 'none'}). Intervals are "
        f"{CONFIDENCE:.0%} percentile intervals of a circular block bootstrap over days (blocks of "
        f"{BLOCK_DAYS} days, {REPLICATES} replicates, fixed seed; Politis & Romano 1992) of the under-count "
        f"rate, times the observed warehouse count: they hold day-to-day variation of the capture rate, "
        f"including its correlation within a week, given the reported volume. The breakdown runs the "
        f"project's root-cause localiser on the leaf cube (client count against the warehouse count times "
        f"the typical leaf's capture) over the total's steady-state days; each leaf belongs to one part, so "
        f"the parts add up to the total. What-if: bringing a slice to {target} recovers warehouse x "
        f"(target - capture) events over its steady-state days; recoveries add up within one grouping, not "
        f"across groupings (their slices share events). {trend_method_text(sized)} "
        + lateness.method_text(c, sized.frames["completeness"]))


def trend_method_text(sized: Sizing) -> str:
    """The method paragraph's sentences on the weekly trend's interval and the rollout comparison."""
    s = sized.counts.settings
    weekly = ("Weekly captures have a quasi-binomial interval (binomial thinning widened by the days' "
              "extra-binomial spread, Pearson's X^2 over its degrees of freedom around each week's capture, "
              "pooled over the slice's weeks and never below 1; Student quantile; McCullagh & Nelder 1989): a "
              "week is a single bootstrap block.")
    if s.version_dimension is None:
        return weekly + (f" No version dimension is configured (pairs.{s.pair}.version_dimension), so there is "
                         f"no before/after comparison of rollouts.")
    return weekly + (
        f" Rollouts: a value of {s.version_dimension} rolls out on the first day it carries {ROLLOUT_SHARE:.0%} "
        f"of its parent slice's warehouse events (a version already there on the first day rolled out before "
        f"the period and has no before); the parent's capture over its steady-state days in the {WINDOW_DAYS} "
        f"days before that day is compared with the {WINDOW_DAYS} days from it, the change has the same "
        f"quasi-binomial interval (the dispersion pooled within the two windows), and the under-count per day "
        f"it implies is minus the change times the parent's warehouse events per steady-state day after. The "
        f"change holds whatever else changed between the windows.")


def render(sized: Sizing, source: str = "") -> str:
    f = {k: shown(v) for k, v in sized.frames.items()}
    groupings = [g for g in sized.counts.settings.groupings if g and "," not in g]
    figures = {"pareto": charts.pareto_chart(sized.frames["pareto"]),
               "what_if": charts.what_if_chart(sized.frames["what_if"])}
    if len(sized.frames["weekly"]):
        figures["trend"] = charts.trend_chart(sized.frames["weekly"], groupings[0] if groupings else "")
    if sized.counts.settings.version_dimension is not None:
        figures["rollouts"] = charts.rollout_chart(sized.frames["rollouts"])
    figures.update(_late_figures(sized, groupings))
    return _ENV.get_template("sizing.html").render(
        s=sized.counts.settings, start=sized.counts.start, end=sized.counts.end, h=headline(sized),
        source=source, method=method_text(sized), target=sized.target, rollout_share=ROLLOUT_SHARE,
        window_days=WINDOW_DAYS,
        charts={k: png_base64(v) for k, v in figures.items()},
        tables={**{name: table(f[name]) for name in ("slices", "incident_losses", "pareto", "what_if")},
                "rollouts": table(f["rollouts"].drop(columns=["grouping", "before_period"]))},
        weekly=table(f["weekly"][f["weekly"].grouping == ""]), csv_files=[f"{n}.csv" for n in written_csvs(sized)],
        users=users_headline(sized.frames), users_table=table(f["users"]) if "users" in f else "",
        incident_total=float(sized.frames["incident_losses"].query("grouping == ''").under_count.sum()),
        late=_late_section(sized, groupings))


def _late_figures(sized: Sizing, groupings: list[str]) -> dict:
    """The completeness-curve chart, when the client table has a curve."""
    late, lags = sized.frames["completeness"], sized.counts.settings.arrival_lags
    return {"completeness": charts.completeness_chart(late, lags, groupings[0] if groupings else "")} \
        if len(late) else {}


def _late_section(sized: Sizing, groupings: list[str]) -> dict:
    """What the "Late vs lost" section shows: the total and the chart's grouping (all slices in the CSV)."""
    late, lags = sized.frames["completeness"], sized.counts.settings.arrival_lags
    shown_rows = late[late.grouping.isin(["", *groupings[:1]])]
    total = late[late.grouping == ""]
    return {"configured": bool(lags), "table": table(lateness.page_table(shown_rows, lags)) if len(late) else "",
            "total": total.iloc[0].to_dict() if len(total) else None, "lags": lags,
            "client_table": sized.counts.settings.client_table}
