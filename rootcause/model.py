"""Result types of root-cause localisation and impact estimation (plain, frozen data)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
import pandas as pd


TABLE_WIDE = "all slices (table-wide)"


@dataclass(frozen=True)
class RootCause:
    """One dimension-value combination that explains part of a deviation.

    `elements` maps dimension -> value, in the dimension order the caller declared.
    `share` is the fraction of the total deviation this combination carries (signed deviations of its
    leaves, see `rootcause.localize`); `confidence` is in [0, 1]; `observed` and `expected` are the
    summed real and predicted values of its leaves.
    """

    elements: dict[str, str] = field(hash=False)
    share: float
    confidence: float
    observed: float
    expected: float

    def label(self) -> str:
        """`"platform=android & app_version=10.0"`, dimensions in the declared order;
        `"all slices (table-wide)"` for the cause with no elements (every leaf moved)."""
        if not self.elements:
            return TABLE_WIDE
        return " & ".join(f"{dim}={value}" for dim, value in self.elements.items())

    @property
    def table_wide(self) -> bool:
        return not self.elements

    @property
    def deviation(self) -> float:
        return self.observed - self.expected


@dataclass(frozen=True)
class Impact:
    """Events under- or over-counted on the slices of the root causes.

    `events` < 0 means the client logged fewer events than the baseline predicts (`direction` "under").
    [`lower`, `upper`] is the central interval at the requested confidence; `share_of_total` is
    `events` divided by the reported (observed) total over all leaves.
    """

    events: float
    lower: float
    upper: float
    share_of_total: float
    direction: str


def leaves_in(leaves: pd.DataFrame, elements: Iterable[Mapping[str, str]]) -> np.ndarray:
    """Mask of the leaves (rows with one column per dimension) inside any of the element sets;
    `{}` (table-wide) holds every leaf."""
    matched = np.zeros(len(leaves), dtype=bool)
    for cause in elements:
        hit = np.ones(len(leaves), dtype=bool)
        for dim, value in cause.items():
            hit &= leaves[dim].astype(str).to_numpy() == str(value)
        matched |= hit
    return matched
