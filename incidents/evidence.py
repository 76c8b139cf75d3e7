"""What an incident is about, gathered for `mq incidents show` and the status page: its alerts, their
root causes and impact, and the `mq explain` output of every pair discrepancy in it."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import partial

from alerting.lifecycle import combine_impacts


@dataclass(frozen=True)
class Evidence:
    alerts: list[dict]
    root_causes: list[dict]
    impact: dict | None
    explain: dict[str, str]          # "pair on partition" -> the explain text
    subjects: list[str]

    def lines(self) -> list[str]:
        out = [f"alerts ({len(self.alerts)}):"]
        for a in self.alerts:
            labels = " & ".join(f"{k}={v}" for k, v in sorted(a["labels"].items())) or "all"
            out.append(f"  {a['status']:8s} {a['kind']:11s} {a['subject']} [{labels}] "
                       f"{a['first_partition']}..{a['last_partition']}: {a['message']}")
        if self.root_causes:
            out.append("root causes:")
            out += [f"  {c['label']} (share {c['share']:.0%}, confidence {c['confidence']:.2f})"
                    for c in self.root_causes]
        if self.impact:
            out.append(f"impact: {self.impact['events']:+,.0f} events ({self.impact['lower']:,.0f} .. "
                       f"{self.impact['upper']:,.0f}), {self.impact['share_of_total']:+.2%} of the total")
        for title, text in self.explain.items():
            out += [f"explain {title}:", *("  " + line for line in text.splitlines())]
        return out


def gather(book, iid: str, *, pairs: Collection[str] = (),
           explain: Callable[[str, dt.date], str] | None = None) -> Evidence:
    """The evidence of incident `iid` from the incident book's alerts. `explain(pair, partition)` gives
    the `mq explain` text of a discrepancy of one of `pairs` (None: leave it out)."""
    alerts = book.alerts(iid)
    explained = [a for a in alerts if a["root_causes"]]
    # The broadest explained slice speaks for the incident (its causes cover the narrower ones).
    explained.sort(key=lambda a: len(a["labels"]))
    impact = None
    for a in alerts:
        if a["kind"] == "discrepancy" and not a["labels"] and a["impact"]:
            impact = combine_impacts(impact, a["impact"]) if impact else a["impact"]
    if impact is None and explained:
        impact = explained[0]["impact"]
    texts = {}
    if explain is not None:
        for a in alerts:
            if a["kind"] == "discrepancy" and not a["labels"] and a["subject"] in pairs:
                texts[f"{a['subject']} on {a['first_partition']}"] = explain(a["subject"], a["first_partition"])
    return Evidence(alerts=alerts, root_causes=list(explained[0]["root_causes"]) if explained else [],
                    impact=impact, explain=texts, subjects=sorted({a["subject"] for a in alerts}))


def pipeline_evidence(pipe, iid: str, *, explain: Callable | None = None) -> Evidence:
    """`gather` on the pipeline's incident book and pairs; `explain(pipe, pair, partition)`: the
    `mq explain` text (None: leave it out)."""
    return gather(pipe.incidents, iid, pairs=tuple(pipe.config.pairs),
                  explain=partial(explain, pipe) if explain is not None else None)
