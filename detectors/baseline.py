"""Which past points may feed a baseline: clean history, and when a lasting change becomes the new normal.

A baseline that learns from the incident it should be measuring goes quiet while the incident lasts
(the pooled rate moves towards it) and stays too wide for weeks after (the spread fitted on the
incident days). So a past point of a series is left out of every detector's baseline when

- the series was flagged on that day (an anomaly of any of its detectors): `flagged`;
- a slice that rolls up into it was flagged that day: the day's total holds that slice's incident
  (`excluded`; `ancestors` says which series a slice rolls up into);
- the day is a holiday, or its table failed a check or was missing (`excluded` for every series);
- a drift of the series was under way that day, as a later drift finding of the series estimates it
  (its onset up to the day it was found: `held`, from `detectors.runner.held_days`).

An all-excluded window leaves too few points, which the runner reports as "insufficient history",
never as a pass. A change that lasts is not an incident for ever: once a series has been flagged on
`accept_after_days` consecutive observed days, the change is accepted as the new normal and the
baseline restarts at its first day (those flagged days then feed it, the days before it do not).
That is right for a step to a new level, not for a drift: a ramp has no level to restart at, its
flagged days average a moving value, and a drift that is later fixed would leave a baseline below
normal for weeks, hiding the next drift on the slice. So a drift's days (`held`) break a run of
flagged days as a clean day does; the flags of the level that follows, if it stays, start a new one.
A person can accept a change sooner, by a recorded disposition (`mq incidents resolve --accept-change`):
the baseline then restarts at the day the change began (`Accepted.since`), and the flagged days up to
the disposition (`Accepted.until`) feed it; days flagged after that are new incidents again.

The rule is a pure function of the flags inside the detector's window, so a daily run that reads the
stored flags and a backfill that derives them day by day give the same baseline (the runner feeds
each day's anomalies back before scoring the next day).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from core.config import DetectionSpec

# Days a series must stay flagged before its change becomes the baseline: the config's default
# (detection.accept_change_after_days), declared once in core.config.
ACCEPT_AFTER_DAYS = DetectionSpec.model_fields["accept_change_after_days"].default


@dataclass(frozen=True)
class Accepted:
    """Per row of a window: a change accepted by a recorded disposition (window columns, any sign)."""

    since: np.ndarray  # (n,) column of the change's first day; rows without one hold a column past the window
    until: np.ndarray  # (n,) last column whose flag the disposition covers


@dataclass(frozen=True)
class CleanHistory:
    """Per row of a window: which past columns may feed a baseline, and any accepted change."""

    usable: np.ndarray  # (n, w) bool over the past columns
    accepted_start: np.ndarray  # (n,) column where an accepted change began, -1 if none
    accepted_today: np.ndarray  # (n,) the acceptance applies from the current point on, for the first time


def clean_history(
    flagged: np.ndarray,
    excluded: np.ndarray,
    observed: np.ndarray,
    accept_after_days: int | None,
    accepted: Accepted | None = None,
    held: np.ndarray | None = None,
) -> CleanHistory:
    """Baseline mask of the past columns of a window (all arrays (n, w), oldest column first).

    `observed`: the series has a value that day (a day without one neither breaks nor extends a run
    of flagged days, nor does an excluded day). `accept_after_days=None` never accepts a change.
    `accepted`: changes accepted by a disposition; the later of the two restarts wins.
    `held`: a found drift's days up to the day it was found (module docstring): out of the baseline
    like flagged days, and they break a run of flagged days.
    """
    n, width = flagged.shape
    run_length = np.zeros(n, dtype=np.int64)
    run_start = np.full(n, -1, dtype=np.int64)
    accepted_start = np.full(n, -1, dtype=np.int64)
    accepted_end = np.full(n, -1, dtype=np.int64)
    if accept_after_days is not None and flagged.any():
        neutral = ~observed | excluded
        for col in range(width):
            own = flagged[:, col] if held is None else flagged[:, col] & ~held[:, col]
            run_start = np.where(own & (run_length == 0), col, run_start)
            run_length = np.where(own, run_length + 1, np.where(neutral[:, col], run_length, 0))
            reached = own & (run_length >= accept_after_days)
            accepted_start = np.where(reached, run_start, accepted_start)
            accepted_end = np.where(reached, col, accepted_end)
    cols = np.arange(width)[None, :]
    in_accepted_run = (cols >= accepted_start[:, None]) & (cols <= accepted_end[:, None])
    if accepted is not None:
        # A disposition applies once its change has begun before the day scored (since < width).
        manual = accepted.since < width
        in_accepted_run |= manual[:, None] & (cols >= accepted.since[:, None]) & (cols <= accepted.until[:, None])
        accepted_start = np.where(manual & (accepted.since > accepted_start), accepted.since, accepted_start)
    kept_out = flagged if held is None else flagged | held
    usable = ~excluded & (~kept_out | in_accepted_run) & (cols >= accepted_start[:, None])
    accepted_today = (accepted_end == width - 1) & (run_length == (accept_after_days or 0))
    return CleanHistory(usable, accepted_start, accepted_today)


def ancestors(labels: Mapping[str, Mapping[str, str]]) -> dict[str, list[str]]:
    """Series id -> the monitored series it rolls up into (every slice whose labels are a proper
    subset of its own: platform=ios rolls up into the total, platform=ios & country=FR into both)."""
    items = {key: frozenset(dict(lab or {}).items()) for key, lab in labels.items()}
    by_size: dict[int, list[tuple[str, frozenset]]] = {}
    for key, lab in items.items():
        by_size.setdefault(len(lab), []).append((key, lab))
    out: dict[str, list[str]] = {}
    for key, lab in items.items():
        parents = [other for size, group in by_size.items() if size < len(lab)
                   for other, olab in group if olab <= lab]
        if parents:
            out[key] = sorted(parents)
    return out
