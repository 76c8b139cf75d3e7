"""The SOX evidence report of a period: HTML for people, CSVs for sampling, one chart.

Everything comes from the state store and the ledger; the report ends with the ledger's verification
and head hash, so an auditor can later prove the records behind it were not altered.
"""
from __future__ import annotations

import base64
import datetime as dt
import html
import io
from pathlib import Path

import pandas as pd


def _alerts_frame(pipe, start: dt.date, end: dt.date) -> pd.DataFrame:
    rows = [a for a in pipe.alerts.alerts() if start <= a["first_partition"] <= end]
    cols = ["id", "kind", "subject", "labels", "severity", "status", "first_partition", "last_partition",
            "resolved_partition", "suppressed", "message"]
    frame = pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame(columns=cols)
    frame["labels"] = frame["labels"].map(lambda d: " & ".join(f"{k}={v}" for k, v in (d or {}).items()))
    return frame


def collect(pipe, start: dt.date, end: dt.date) -> dict[str, pd.DataFrame]:
    runs = pipe.store.runs(start, end)
    runs = runs[["run_id", "partition", "trigger", "status", "config_hash", "started_at", "finished_at"]]
    pulls = pipe.store.pulls(start, end)
    pulls = pulls.assign(files=pulls.input_files.map(lambda f: len(f or [])))[
        ["table_name", "partition", "version", "status", "row_count", "files", "sql_hash", "content_hash",
         "spark_app_id", "started_at", "finished_at"]]
    checks = pipe.store.check_results(start, end)
    checks = checks.assign(failed=checks.result.map(
        lambda r: ";".join(e["expectation"] for e in (r or {}).get("expectations", []) if not e["success"])))[
        ["suite", "table_name", "partition", "success", "failed", "suite_hash", "recorded_at"]]
    decisions = pd.DataFrame(pipe.alerts.decisions(start, end),
                             columns=["partition", "fingerprint", "alert_id", "decision", "reason", "receiver",
                                      "decided_at"])
    return {"runs": runs, "pulls": pulls, "checks": checks, "alerts": _alerts_frame(pipe, start, end),
            "alert_decisions": decisions}


def _chart(frames: dict[str, pd.DataFrame], start: dt.date, end: dt.date) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    days = pd.date_range(start, end, freq="D").date
    runs = frames["runs"].groupby("partition").size().reindex(days, fill_value=0)
    alerts = frames["alerts"].groupby("first_partition").size().reindex(days, fill_value=0)
    failed = frames["checks"][~frames["checks"].success.astype(bool)].groupby("partition").size().reindex(days, fill_value=0)
    fig = Figure(figsize=(10, 3.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.bar(days, runs.values, color="#9bc", label="runs")
    ax.plot(days, alerts.values, "o-", color="#c33", label="new alerts")
    ax.plot(days, failed.values, "s", color="#e90", label="failed checks")
    ax.set_title("Control executions and exceptions per partition")
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return base64.b64encode(buf.getvalue()).decode()


def _table(frame: pd.DataFrame, limit: int = 200) -> str:
    shown = frame.head(limit).to_html(index=False, escape=True, border=0, classes="t")
    more = f"<p>{len(frame) - limit} more rows in the CSV.</p>" if len(frame) > limit else ""
    return shown + more


def write_sox_report(pipe, start: dt.date, end: dt.date, out: Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames = collect(pipe, start, end)
    for name, frame in frames.items():
        frame.to_csv(out / f"{name}.csv", index=False)
    verification = pipe.ledger.verify()
    pd.DataFrame([{"ok": verification.ok, "records": verification.count, "head_hash": verification.head_hash,
                   "first_bad_seq": verification.first_bad_seq, "problem": verification.problem,
                   "verified_at": dt.datetime.now(dt.timezone.utc).isoformat()}]).to_csv(
        out / "ledger_verification.csv", index=False)
    expected_days = (end - start).days + 1
    ran = frames["runs"][frames["runs"].status == "success"].partition.nunique()
    e = html.escape
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>SOX evidence {start} to {end}</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}} table.t{{border-collapse:collapse;font-size:12px}}
table.t td,table.t th{{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left}} .ok{{color:#070}} .bad{{color:#b00}}</style>
</head><body><h1>metrics-quality: control evidence</h1>
<p>Period {start} to {end}. Config {e(pipe.config.source_path)} (hash {pipe.config.content_hash[:16]}).</p>
<ul><li>Partitions with a successful run: <b>{ran}</b> of {expected_days}</li>
<li>Pulls: {len(frames['pulls'])}; expectation results: {len(frames['checks'])}
 ({int((~frames['checks'].success.astype(bool)).sum())} failed)</li>
<li>Alerts: {len(frames['alerts'])}; alert decisions recorded: {len(frames['alert_decisions'])}</li>
<li>Ledger: <span class="{'ok' if verification.ok else 'bad'}">{'verified' if verification.ok else 'BROKEN: ' + e(str(verification.problem))}</span>,
 {verification.count} records, head hash <code>{verification.head_hash}</code></li></ul>
<img alt="runs and exceptions per partition" src="data:image/png;base64,{_chart(frames, start, end)}">
<h2>Alerts</h2>{_table(frames['alerts'])}
<h2>Expectation results</h2>{_table(frames['checks'])}
<h2>Pulls (completeness evidence)</h2>{_table(frames['pulls'])}
<h2>Runs</h2>{_table(frames['runs'])}
<p>CSV files beside this page hold every row: runs, pulls, checks, alerts, alert_decisions, ledger_verification.</p>
</body></html>"""
    (out / "index.html").write_text(body)
    return out / "index.html"
