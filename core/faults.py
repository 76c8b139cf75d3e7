"""Crash points: a test hook that kills the process at a named write, to prove nothing is lost.

`MQ_CRASH_AT=<point>[:<n>]` kills the process (SIGKILL: no cleanup, no rollback handler runs, as when
a machine dies) the n-th time (default 1st) the code reaches crash point `<point>`; `*` matches every
point, so `MQ_CRASH_AT='*:7'` dies at the 7th write of whatever path runs. Unset, a crash point costs
one environment lookup. Chaos tests and `bench/chaos.py` walk n over every write of the alert path.
"""
from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    spec = os.environ.get("MQ_CRASH_AT")
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point not in ("*", name):
        return
    _hits[point] = _hits.get(point, 0) + 1
    if _hits[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def reset() -> None:
    """Forget the hit counts (a forked worker starts counting afresh)."""
    _hits.clear()
