"""Inhibition: an alert matching a rule's `target_match` is muted while another alert of the same
run matches its `source_match` with equal values of the rule's `equal` labels (in the spirit of
Prometheus Alertmanager's `inhibit_rules`). The rules come from `alerting.inhibit_rules`; the default
lets a missing partition (freshness) mute the anomaly and discrepancy alerts of that partition.
"""
from __future__ import annotations

from collections.abc import Sequence

from alerting.alert import Alert
from alerting.route import matches
from core.config import InhibitRuleSpec, default_inhibit_rules

DEFAULT_INHIBIT: tuple[InhibitRuleSpec, ...] = tuple(default_inhibit_rules())


def inhibitor(alert: Alert, candidates: Sequence[Alert], rules: Sequence[InhibitRuleSpec]) -> Alert | None:
    """The first other candidate that inhibits `alert` under the first rule targeting it; None if none."""
    labels = alert.match_labels
    for rule in rules:
        if not matches(rule.target_match, labels):
            continue
        for other in candidates:
            other_labels = other.match_labels
            if other is not alert and matches(rule.source_match, other_labels) and all(
                    other_labels.get(k) == labels.get(k) for k in rule.equal):
                return other
    return None
