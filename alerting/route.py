"""The routing tree, in the spirit of Prometheus Alertmanager's `route` block.

An alert enters at the root and descends into the first child whose matchers all hold (a value
starting with `~` is a regular expression that must match the whole label). A matching child stops the
search among its siblings unless it sets `continue: true`. Children inherit `receiver`, `group_by`,
`repeat_interval_days`, `send_resolved` and the hysteresis counts (`fire_after_runs`,
`resolve_after_runs`) from their parent. If no child matches, the node itself is the destination.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.config import RouteSpec


@dataclass(frozen=True)
class Destination:
    receiver: str
    group_by: tuple[str, ...]
    repeat_interval_days: int | None
    path: str                        # which route matched, e.g. "root/1/0", for the decision record
    fire_after_runs: int = 1
    resolve_after_runs: int = 1
    send_resolved: bool = True

    def group_key(self, labels: dict[str, str]) -> str:
        return self.receiver + "|" + ",".join(f"{k}={labels.get(k, '')}" for k in self.group_by)

    def thread_group(self, labels: dict[str, str]) -> str:
        """The group key without the partition: what an incident keeps while it spans partitions, so
        the alerts that join it on later days land in the thread it started in."""
        return self.receiver + "|" + ",".join(f"{k}={labels.get(k, '')}" for k in self.group_by
                                              if k != "partition")


def matches(matchers: dict[str, str], labels: dict[str, str]) -> bool:
    for key, wanted in matchers.items():
        value = labels.get(key)
        if value is None:
            return False
        if wanted.startswith("~"):
            if not re.fullmatch(wanted[1:], value):
                return False
        elif value != wanted:
            return False
    return True


def route(tree: RouteSpec, labels: dict[str, str]) -> list[Destination]:
    """Every destination the alert goes to (more than one only with `continue`)."""
    root = Destination(tree.receiver or "local", tuple(tree.group_by or ("partition",)),
                       tree.repeat_interval_days, "root", tree.fire_after_runs or 1, tree.resolve_after_runs or 1,
                       tree.send_resolved if tree.send_resolved is not None else True)
    return _descend(tree, labels, root)


def _descend(node: RouteSpec, labels: dict[str, str], here: Destination) -> list[Destination]:
    found: list[Destination] = []
    for i, child in enumerate(node.routes):
        if not matches(child.matchers, labels):
            continue
        inherited = Destination(
            child.receiver or here.receiver,
            tuple(child.group_by) if child.group_by is not None else here.group_by,
            child.repeat_interval_days if child.repeat_interval_days is not None else here.repeat_interval_days,
            f"{here.path}/{i}", child.fire_after_runs or here.fire_after_runs,
            child.resolve_after_runs or here.resolve_after_runs,
            child.send_resolved if child.send_resolved is not None else here.send_resolved)
        found += _descend(child, labels, inherited)
        if not child.continue_:
            break
    return found or [here]
