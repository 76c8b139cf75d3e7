"""Which side of a client/warehouse discrepancy moved: each side against its own history.

A ratio that moved says only that the two counts disagree. To say *who* is wrong, each side's count
on the cause's slices is compared with what its own history predicts for today: a log-linear
regression on the clean history days with one level per weekday and a linear trend (seasonal
regression, Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., sec. 7.4),
whose residual standard deviation gives the interval. A side's change is its z: log(observed /
predicted) in prediction standard errors (residual noise and the coefficients' error together); it
*moved* when today is outside `INTERVAL_Z` of them.

First, the slices' own client / warehouse ratio must have moved: the client count against the
warehouse's times the ratio its history predicts (the same regression on the log ratio), outside
its interval. When it did not, there is no discrepancy on these slices for a side to carry: both
sides moving together is traffic (a surge the history did not foresee puts both outside their
intervals the same way), and no side is named. Then:

* the warehouse is to blame (it duplicated or lost events, the client is right) when "the client is as
  its history says" is at least `SIDE_EVIDENCE` times as likely as "the warehouse is", i.e.
  (z_w^2 - z_c^2) / 2 >= ln 20, and the warehouse moved against the ratio (up when the ratio fell);
* the client, the same way round, when it moved with the ratio;
* both, when both left their intervals, each in the direction that explains the ratio;
* neither, when the two stories are closer than that: the history cannot tell; the impact is stated
  on the ratio, in client events.

So a client 2.6 errors short of its prediction, beside a warehouse right on its own, is the client,
though inside its 3-error interval; the verdict asks which side's history explains the other side,
not whether each side alone is beyond doubt. A client 2 errors short beside a warehouse 2 errors
over is "undetermined": traffic up and the client losing, or traffic down and the warehouse
duplicating, fit equally well.

A discrepancy that lasts (a drift since its onset, or a run of days flagged the same way) is judged on
its days pooled: each side's count summed over the incident's days against the sum its history
predicts for those days, the history being the clean days before the onset. A 10% move on a few
hundred events a day is lost in one day's noise but not in ten days'. The pooled prediction error is
that of a weighted mean of the days' log errors: the residual variance times w' R w, R the residuals'
day-to-day correlation (AR(1), its lag-one coefficient estimated on the history's consecutive days, so
a run of high-traffic days is not read as ten independent pieces of evidence), plus the coefficients'
uncertainty at the incident's design rows (Hyndman & Athanasopoulos, sec. 7.4 and 9.3). One day is
the special case: the interval is then the one-day prediction interval.

A slice's own count moves with the whole product's traffic (a launch, an outage of the app store, a
seasonal swing the weekday levels do not capture), which is common to every slice and to both sides:
its own history's interval is then wide and a few-percent loss stays "within". So each side is also
judged against the REST OF THE TABLE on the same side (the slices outside every cause): the same
seasonal regression on log(slice / rest), i.e. the slice's log count with the rest's log count as an
offset (a share-of-table model: the comparison with a control group of difference-in-differences,
Angrist & Pischke, *Mostly Harmless Econometrics*, 2009, sec. 5.2; an offset as a GLM's exposure,
McCullagh & Nelder, *Generalized Linear Models*, 2nd ed., sec. 6.2.3), also without the trend, which a
share seldom has. Today's prediction is then the rest's observed count today times the predicted
share, so traffic common to the slice and the rest cancels. Of the predictions, the one with the
smaller prediction error on the history is used (judged before today's count is looked at, so the
choice does not favour a verdict): the rest wins unless it is small and noisy, as when the cause is
most of the table; with no rest (a table-wide cause) the own history is the only test, so a
table-wide warehouse move still reads as the warehouse.
The rest is a reference only while it has no discrepancy of its own (its client / warehouse ratio
within its history's interval): a table-wide move the causes did not capture would otherwise cancel.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

import numpy as np

INTERVAL_Z = 3.0        # as the ratio detector's interval (`interval_z`)
# Likelihood ratio at which one side is named rather than the other: 20, "strong" evidence on the
# scale of R. E. Kass and A. E. Raftery, "Bayes Factors", JASA 90 (1995), sec. 3.2 (2 ln B >= 6); with
# even prior odds, a 95% posterior for the side named over the other.
SIDE_EVIDENCE = 20.0
MIN_HISTORY_DAYS = 7


@dataclass(frozen=True)
class SideChange:
    """One side on the cause's slices today: observed, predicted from its history, and the verdict."""

    observed: float
    expected: float
    lower: float
    upper: float
    basis: str = "history"      # "history" (its own), "rest" (its share of the rest of the table), "ratio"
    spread: float = float("nan")  # standard error of the predicted log count (the interval's unit)

    @classmethod
    def from_fit(cls, observed: float, fit: tuple[float, float], basis: str) -> SideChange:
        """`observed` against a `_pooled_fit` (prediction, standard error of its log)."""
        return cls(observed, *_interval(*fit, INTERVAL_Z), basis=basis, spread=fit[1])

    @property
    def moved(self) -> int:
        """+1 above its interval, -1 below, 0 within."""
        return 1 if self.observed > self.upper else -1 if self.observed < self.lower else 0

    @property
    def z(self) -> float:
        """log(observed / expected) in standard errors of the prediction (0 with no usable spread)."""
        if not (self.spread > 0 and self.expected > 0):
            return 0.0
        return float(np.log(max(self.observed, 1e-9) / self.expected) / self.spread)

    @property
    def relative(self) -> float:
        return self.observed / self.expected - 1 if self.expected > 0 else float("inf")


@dataclass(frozen=True)
class SideVerdict:
    side: str               # "client", "warehouse", "both" or "undetermined"
    client: SideChange | None
    warehouse: SideChange | None
    days: tuple[dt.date, ...] = ()      # the incident days the counts are summed over
    ratio: SideChange | None = None     # the client count against the warehouse's times the history's ratio

    def evidence(self) -> str:
        """One line a reader can check: each side against its history."""
        parts = []
        pooled = (f" over the {len(self.days)} days since {min(self.days)}" if len(self.days) > 1 else "")
        for name, change in (("client", self.client), ("warehouse", self.warehouse)):
            if change is None:
                parts.append(f"{name}: too little history")
                continue
            verdict = {1: "above", -1: "below", 0: "within"}[change.moved]
            basis = "its history's" if change.basis == "history" else "its share of the rest of the table's"
            parts.append(f"{name} {change.observed:,.0f}{pooled} vs {basis} {change.expected:,.0f} "
                         f"[{change.lower:,.0f}, {change.upper:,.0f}] ({change.relative:+.1%}, "
                         f"{change.z:+.1f} se, {verdict})")
        if self.ratio is not None and self.ratio.moved == 0:
            parts.append(f"the client count is within what the warehouse's and the history's ratio predict "
                         f"({self.ratio.expected:,.0f} [{self.ratio.lower:,.0f}, {self.ratio.upper:,.0f}]): "
                         f"no discrepancy on these slices")
        return "; ".join(parts)


def seasonal_expectation(days: Sequence[dt.date], values: np.ndarray, today: dt.date,
                         interval_z: float = INTERVAL_Z) -> tuple[float, float, float] | None:
    """(expected, lower, upper) for today from the history (`days`, `values`), with a weekday level
    and a trend; the interval is `interval_z` prediction standard errors. None with fewer than MIN_HISTORY_DAYS
    positive days (a zero day is a missing partition, not a count)."""
    return pooled_expectation(days, values, [today], interval_z)


def pooled_expectation(days: Sequence[dt.date], values: np.ndarray, targets: Sequence[dt.date],
                       interval_z: float = INTERVAL_Z) -> tuple[float, float, float] | None:
    """(expected, lower, upper) for the sum of the values on the `targets` days (see the module
    docstring), from the history (`days`, `values`). None as `seasonal_expectation`."""
    fit = _pooled_fit(days, values, targets)
    return None if fit is None else _interval(*fit, interval_z)


def _interval(total: float, spread: float, interval_z: float) -> tuple[float, float, float]:
    return total, total * float(np.exp(-interval_z * spread)), total * float(np.exp(interval_z * spread))


def _pooled_fit(days: Sequence[dt.date], values: np.ndarray, targets: Sequence[dt.date],
                rest: np.ndarray | None = None, rest_targets: np.ndarray | None = None,
                weekdays: bool = True, trend: bool = True) -> tuple[float, float] | None:
    """(predicted sum over `targets`, standard error of its log): the seasonal regression of the log
    values, with log(`rest`) as an offset when given (today's prediction then scales with the rest's
    observed `rest_targets`); `weekdays=False` fits a level and the trend only, `trend=False` no
    trend. None with fewer than MIN_HISTORY_DAYS usable days."""
    days = list(days)
    targets = sorted(set(targets))
    if not targets:
        raise ValueError("pooled_expectation: no target days")
    values = np.asarray(values, dtype=np.float64)
    offset = np.zeros(len(values)) if rest is None else np.log(np.maximum(np.asarray(rest, dtype=np.float64), 1e-300))
    target_offset = np.zeros(len(targets))
    keep = values > 0
    if rest is not None:
        rest_targets = np.asarray(rest_targets, dtype=np.float64)
        if rest_targets.shape != (len(targets),):
            raise ValueError(f"side: the rest of the table has {rest_targets.size} counts "
                             f"for {len(targets)} target days")
        if not (rest_targets > 0).all():
            return None
        keep &= np.asarray(rest, dtype=np.float64) > 0
        target_offset = np.log(rest_targets)
    if keep.sum() < MIN_HISTORY_DAYS:
        return None
    days = [d for d, k in zip(days, keep) if k]
    y = np.log(values[keep]) - offset[keep]
    k = len(targets)
    design = _design(days + targets[:-1], targets[-1])
    weekday_columns = np.flatnonzero(design[:len(y)].any(axis=0))      # weekdays seen in the history
    x, x_target = design[:len(y)][:, weekday_columns], design[len(y):][:, weekday_columns]
    if not weekdays or not x_target.any(axis=1).all() or len(y) <= x.shape[1]:
        # A target weekday never seen, or no residual degrees of freedom: drop the weekday levels.
        x = np.column_stack([np.ones(len(y)), design[:len(y), -1]])
        x_target = np.column_stack([np.ones(k), design[len(y):, -1]])
    if not trend:
        # The trend is the last column of either design.
        x, x_target = x[:, :-1], x_target[:, :-1]
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = y - x @ coef
    dof = max(len(y) - x.shape[1], 1)
    sigma = float(np.sqrt(residual @ residual / dof))
    predicted = np.exp(x_target @ coef + target_offset)
    weights = predicted / predicted.sum()
    # Prediction error of the weighted mean log error: correlated residual noise, plus the
    # coefficients' uncertainty at the target rows.
    phi = _lag_one_correlation(days, residual) if k > 1 else 0.0
    ordinal = np.array([t.toordinal() for t in targets], dtype=np.float64)
    correlation = phi ** np.abs(ordinal[:, None] - ordinal[None, :])
    coefficient_cov = np.linalg.pinv(x.T @ x)
    variance = float(weights @ correlation @ weights + weights @ x_target @ coefficient_cov @ x_target.T @ weights)
    return float(predicted.sum()), sigma * float(np.sqrt(variance))


def _lag_one_correlation(days: list[dt.date], residual: np.ndarray) -> float:
    """Lag-one autocorrelation of the residuals over pairs of consecutive days, in [0, 0.95]; 0 with
    fewer than five such pairs. Negative estimates are taken as 0: pooling never counts for more
    than independent days."""
    order = np.argsort([d.toordinal() for d in days])
    ordinal = np.array([days[i].toordinal() for i in order])
    r = residual[order]
    consecutive = np.flatnonzero(np.diff(ordinal) == 1)
    if consecutive.size < 5 or not (r @ r) > 0:
        return 0.0
    estimate = float((r[consecutive] * r[consecutive + 1]).sum() / (r @ r) * len(r) / consecutive.size)
    return float(np.clip(estimate, 0.0, 0.95))


def attribute_side(days: Sequence[dt.date], client_history: np.ndarray, warehouse_history: np.ndarray,
                   incident_days: Sequence[dt.date], client_observed: float,
                   warehouse_observed: float, *, rest: dict | None = None,
                   warehouse_daily: np.ndarray | None = None) -> SideVerdict:
    """Compare each side with its own history on the same slices, or with its share of the rest of
    the table when that predicts it more precisely (see the module docstring).

    `days`, `*_history`: the clean days before the incident and each side's count on them;
    `incident_days`: the incident's days (today alone for a one-day incident); `*_observed`: each
    side's count summed over those days. `rest`: {"client": (history, on_incident_days), "warehouse":
    ...}, the rest of the table's count on `days` and on each of the sorted `incident_days`; None
    (or a side missing) when the cause is the whole table. `warehouse_daily`: the warehouse count on
    each of the sorted `incident_days` (default: `warehouse_observed` split evenly), for the test of
    whether the slices' ratio moved at all."""
    incident_days = tuple(sorted(set(incident_days)))
    if rest is not None and not _rest_is_clean(days, rest, incident_days):
        rest = None
    changes = {}
    for name, history, observed in (("client", client_history, client_observed),
                                    ("warehouse", warehouse_history, warehouse_observed)):
        changes[name] = _side_change(days, history, incident_days, float(observed), (rest or {}).get(name))
    client, warehouse = changes["client"], changes["warehouse"]
    if client is None or warehouse is None or min(client.expected, warehouse.expected) <= 0:
        return SideVerdict("undetermined", client, warehouse, incident_days)
    if warehouse_daily is None:
        warehouse_daily = np.full(len(incident_days), float(warehouse_observed) / len(incident_days))
    ratio = _ratio_change(days, client_history, warehouse_history, incident_days, float(client_observed),
                          np.asarray(warehouse_daily, dtype=np.float64))
    if ratio is not None and ratio.moved == 0:
        # The slices' client / warehouse ratio is within its own history's interval: there is no
        # discrepancy on them for a side to carry (both sides moving together is traffic).
        return SideVerdict("undetermined", client, warehouse, incident_days, ratio)
    # The direction the ratio client / warehouse moved against what the two histories predict: a side
    # explains it when it moved the same way (the client) or the other way (the warehouse).
    ratio_moved = np.sign(np.log(max(client.observed, 1e-9) / client.expected)
                          - np.log(max(warehouse.observed, 1e-9) / warehouse.expected))
    both = ratio_moved != 0 and client.moved == ratio_moved and warehouse.moved == -ratio_moved
    # One side to blame: the hypothesis "the warehouse is as its history says, the client carried the
    # move" against "the client is as its history says, the warehouse carried it". Each leaves the
    # moving side's change free, so the profile likelihood ratio is exp((z_c^2 - z_w^2) / 2), with no
    # penalty to pay for either; a move common to both sides (slice traffic the history did not
    # foresee) is part of each side's prediction error, so it leaves the ratio unchanged. A side is
    # named when its hypothesis is at least `SIDE_EVIDENCE` times as likely as the other and its own
    # change has the direction that explains the ratio's.
    evidence = (client.z**2 - warehouse.z**2) / 2
    client_to_blame = ratio_moved != 0 and np.sign(client.z) == ratio_moved and evidence >= np.log(SIDE_EVIDENCE)
    warehouse_to_blame = (ratio_moved != 0 and np.sign(warehouse.z) == -ratio_moved
                          and -evidence >= np.log(SIDE_EVIDENCE))
    side = ("both" if both else "client" if client_to_blame else "warehouse" if warehouse_to_blame
            else "undetermined")
    return SideVerdict(side, client, warehouse, incident_days, ratio)


def _rest_is_clean(days: Sequence[dt.date], rest: dict, incident_days: tuple[dt.date, ...]) -> bool:
    """Whether the rest of the table is a fair reference: its own client / warehouse ratio is within
    its history's interval on the incident's days (the rest's client count predicted from its
    warehouse count). A control group must not share the treatment (Angrist & Pischke, sec. 5.2):
    when the rest has a discrepancy too (a table-wide move the causes did not capture, such as a
    timezone shift named on one platform), each side is judged on its own history alone."""
    if "client" not in rest or "warehouse" not in rest:
        return False
    (client, client_now), (warehouse, warehouse_now) = rest["client"], rest["warehouse"]
    fit = _pooled_fit(days, client, incident_days, warehouse, warehouse_now)
    if fit is None:
        return False
    _, lower, upper = _interval(*fit, INTERVAL_Z)
    return lower <= float(np.sum(client_now)) <= upper


def _ratio_change(days: Sequence[dt.date], client: np.ndarray, warehouse: np.ndarray,
                  incident_days: tuple[dt.date, ...], observed: float, warehouse_daily: np.ndarray
                  ) -> SideChange | None:
    """The client's count against the warehouse's times the slices' ratio (the regression of the log
    ratio, with or without weekday levels and trend, the most precise by the same rule as the sides);
    None without enough history."""
    if warehouse_daily.shape != (len(incident_days),) or not (warehouse_daily > 0).all():
        return None
    fits = [_pooled_fit(days, client, incident_days, warehouse, warehouse_daily, weekdays=w, trend=t)
            for w in (True, False) for t in (True, False)]
    usable = [fit for fit in fits if fit is not None]
    if not usable:
        return None
    return SideChange.from_fit(observed, min(usable, key=lambda f: f[1]), "ratio")


def _side_change(days: Sequence[dt.date], history: np.ndarray, incident_days: tuple[dt.date, ...],
                 observed: float, rest: tuple[np.ndarray, np.ndarray] | None) -> SideChange | None:
    """One side against the most precise of its predictions: from its own history or its share of
    the rest of the table, each with weekday levels or without (a share often has none), and the share
    also without a trend. Precision is the estimated standard error of the predicted log count,
    residual noise and coefficients' error together: a final-prediction-error choice (Akaike,
    "Statistical predictor identification", Ann. Inst. Statist. Math. 22, 1970), made before
    `observed` is looked at.

    A trend fitted on a few weeks of history and carried over a lasting incident's days adds its
    slope's error times the distance ahead: over a three-week drift, more than the days' own noise. A
    slice's share of the table seldom trends (growth common to every slice cancels in it), so the share
    is offered without one, and chosen where the history shows no trend to pay for. Its own count
    keeps the trend: the product's growth is in it, and a level carried three weeks ahead would
    miss it by more than the in-sample error the choice sees."""
    fits = {("history", w, True): _pooled_fit(days, history, incident_days, weekdays=w) for w in (True, False)}
    if rest is not None:
        fits.update({("rest", w, t): _pooled_fit(days, history, incident_days, *rest, weekdays=w, trend=t)
                     for w in (True, False) for t in (True, False)})
    usable = {key: fit for key, fit in fits.items() if fit is not None}
    if not usable:
        return None
    basis, *_ = key = min(usable, key=lambda k: usable[k][1])
    return SideChange.from_fit(observed, usable[key], basis)


def _design(days: list[dt.date], today: dt.date) -> np.ndarray:
    """Rows: history days then today. Columns: one-hot weekday (7), then days before today / 7."""
    rows = days + [today]
    out = np.zeros((len(rows), 8))
    for i, day in enumerate(rows):
        out[i, day.weekday()] = 1.0
        out[i, 7] = (day - today).days / 7.0
    return out

