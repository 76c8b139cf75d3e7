"""Which side of a client/warehouse discrepancy moved: each side against its own history.

A ratio that moved says only that the two counts disagree. To say *who* is wrong, each side's count
on the cause's slices is compared with what its own history predicts for today: a log-linear
regression on the clean history days with one level per weekday and a linear trend (seasonal
regression, Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., sec. 7.4),
whose residual standard deviation gives the interval. A side *moved* when today is outside
`INTERVAL_Z` residual standard deviations (and the prediction's own error) of its prediction.

* the warehouse moved against the ratio (up when the ratio fell): it duplicated or lost events, the
  client is right;
* the client moved with the ratio: it lost (or duplicated) events, the warehouse is right;
* both did: both are wrong;
* neither (or only the same way as traffic): the history cannot tell; the impact is stated on the
  ratio, in client events.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

import numpy as np

INTERVAL_Z = 3.0        # as the ratio detector's interval (`interval_z`)
MIN_HISTORY_DAYS = 7


@dataclass(frozen=True)
class SideChange:
    """One side on the cause's slices today: observed, predicted from its history, and the verdict."""

    observed: float
    expected: float
    lower: float
    upper: float

    @property
    def moved(self) -> int:
        """+1 above its interval, -1 below, 0 within."""
        return 1 if self.observed > self.upper else -1 if self.observed < self.lower else 0

    @property
    def relative(self) -> float:
        return self.observed / self.expected - 1 if self.expected > 0 else float("inf")


@dataclass(frozen=True)
class SideVerdict:
    side: str               # "client", "warehouse", "both" or "undetermined"
    client: SideChange | None
    warehouse: SideChange | None

    def evidence(self) -> str:
        """One line a reader can check: each side against its history."""
        parts = []
        for name, change in (("client", self.client), ("warehouse", self.warehouse)):
            if change is None:
                parts.append(f"{name}: too little history")
                continue
            verdict = {1: "above", -1: "below", 0: "within"}[change.moved]
            parts.append(f"{name} {change.observed:,.0f} vs its history's {change.expected:,.0f} "
                         f"[{change.lower:,.0f}, {change.upper:,.0f}] ({change.relative:+.1%}, {verdict})")
        return "; ".join(parts)


def seasonal_expectation(days: Sequence[dt.date], values: np.ndarray, today: dt.date,
                         interval_z: float = INTERVAL_Z) -> tuple[float, float, float] | None:
    """(expected, lower, upper) for today from the history (`days`, `values`), with a weekday level
    and a trend; the interval is `interval_z` prediction standard errors. None with fewer than MIN_HISTORY_DAYS
    positive days (a zero day is a missing partition, not a count)."""
    days = list(days)
    values = np.asarray(values, dtype=np.float64)
    keep = values > 0
    if keep.sum() < MIN_HISTORY_DAYS:
        return None
    days = [d for d, k in zip(days, keep) if k]
    y = np.log(values[keep])
    design = _design(days, today)
    weekday_columns = np.flatnonzero(design[:-1].any(axis=0))      # weekdays seen in the history
    x, x_today = design[:-1][:, weekday_columns], design[-1, weekday_columns]
    if not x_today.any() or len(y) <= x.shape[1]:
        # Today's weekday never seen, or no residual degrees of freedom: drop the weekday levels.
        x = np.column_stack([np.ones(len(y)), design[:-1, -1]])
        x_today = np.array([1.0, design[-1, -1]])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = y - x @ coef
    dof = max(len(y) - x.shape[1], 1)
    sigma = float(np.sqrt(residual @ residual / dof))
    # Prediction error: residual noise plus the coefficients' uncertainty at today's design row.
    leverage = float(x_today @ np.linalg.pinv(x.T @ x) @ x_today)
    spread = sigma * np.sqrt(1 + leverage)
    centre = float(x_today @ coef)
    return (float(np.exp(centre)), float(np.exp(centre - interval_z * spread)),
            float(np.exp(centre + interval_z * spread)))


def attribute_side(days: Sequence[dt.date], client_history: np.ndarray, warehouse_history: np.ndarray,
                   today: dt.date, client_today: float, warehouse_today: float) -> SideVerdict:
    """Compare each side with its own history on the same slices (see the module docstring)."""
    changes = {}
    for name, history, observed in (("client", client_history, client_today),
                                    ("warehouse", warehouse_history, warehouse_today)):
        expected = seasonal_expectation(days, history, today)
        changes[name] = None if expected is None else SideChange(float(observed), *expected)
    client, warehouse = changes["client"], changes["warehouse"]
    if client is None or warehouse is None or min(client.expected, warehouse.expected) <= 0:
        return SideVerdict("undetermined", client, warehouse)
    # The direction the ratio client / warehouse moved against what the two histories predict. A
    # side is to blame when it moved out of its interval in the direction that explains it: the
    # client with the ratio, the warehouse against it. Traffic moving both sides the same way is
    # then no one's fault, and a loss on a day of low traffic is still the client's.
    ratio_moved = np.sign(np.log(max(client.observed, 1e-9) / client.expected)
                          - np.log(max(warehouse.observed, 1e-9) / warehouse.expected))
    client_to_blame = ratio_moved != 0 and client.moved == ratio_moved
    warehouse_to_blame = ratio_moved != 0 and warehouse.moved == -ratio_moved
    side = ("both" if client_to_blame and warehouse_to_blame else "client" if client_to_blame
            else "warehouse" if warehouse_to_blame else "undetermined")
    return SideVerdict(side, client, warehouse)


def _design(days: list[dt.date], today: dt.date) -> np.ndarray:
    """Rows: history days then today. Columns: one-hot weekday (7), then days before today / 7."""
    rows = days + [today]
    out = np.zeros((len(rows), 8))
    for i, day in enumerate(rows):
        out[i, day.weekday()] = 1.0
        out[i, 7] = (day - today).days / 7.0
    return out

