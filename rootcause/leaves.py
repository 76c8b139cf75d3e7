"""Validate a leaf table and encode its dimensions as small integer codes.

A *leaf* is one full combination of the declared dimensions with a real (observed) and a predicted
(expected) value. Leaves where both are zero carry no information and are dropped, as in Squeeze
(Li et al., ISSRE 2019) and RiskLoc (Kalander, arXiv 2205.10004).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LeafTable:
    """Numeric view of the informative leaves: values, and one code array per dimension."""

    dimensions: tuple[str, ...]
    real: np.ndarray
    predict: np.ndarray
    codes: tuple[np.ndarray, ...]      # codes[d][i] is the code of leaf i in dimension d
    labels: tuple[np.ndarray, ...]     # labels[d][code] is the original value, as a string
    forecast_share: np.ndarray | None = None   # see `localize`'s forecast_share

    def __len__(self) -> int:
        return len(self.real)


def numeric_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The column as float64; ValueError naming the column if it is missing, non-numeric or not finite."""
    if column not in frame.columns:
        raise ValueError(f"column {column!r} not found in leaves (columns: {list(frame.columns)})")
    try:
        values = pd.to_numeric(frame[column], errors="raise").to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {column!r} must be numeric: {exc}") from None
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"column {column!r} has {int(bad.sum())} missing or infinite value(s), "
                         f"first at row {frame.index[np.argmax(bad)]!r}")
    return values


def load_leaves(frame: pd.DataFrame, dimensions: Sequence[str], real: str, predict: str,
                forecast_share: str | None = None) -> LeafTable:
    """Check the leaf table and return its informative leaves, dimensions factorised."""
    if isinstance(dimensions, str) or len(dimensions) == 0:
        raise ValueError(f"dimensions must be a non-empty sequence of column names, got {dimensions!r}")
    dims = tuple(dimensions)
    if len(set(dims)) != len(dims):
        raise ValueError(f"dimensions contain duplicates: {list(dims)}")
    for dim in dims:
        if dim not in frame.columns:
            raise ValueError(f"dimension column {dim!r} not found in leaves (columns: {list(frame.columns)})")
        if dim in (real, predict, forecast_share):
            raise ValueError(f"dimension {dim!r} is also a value column")
    real_values = numeric_column(frame, real)
    predict_values = numeric_column(frame, predict)
    for name, values in ((real, real_values), (predict, predict_values)):
        if (values < 0).any():
            raise ValueError(f"column {name!r} has negative values (min {values.min()!r}); "
                             "localisation works on additive, non-negative measures")
    share = None
    if forecast_share is not None:
        share = numeric_column(frame, forecast_share)
        if (share < 0).any():
            raise ValueError(f"column {forecast_share!r} has negative values (min {share.min()!r}); "
                             "it is a share of a variance")
    keep = (real_values != 0) | (predict_values != 0)
    codes, labels = [], []
    for dim in dims:
        code, uniques = _factorize_as_strings(frame[dim].to_numpy()[keep], dim)
        codes.append(code)
        labels.append(uniques)
    return LeafTable(dims, real_values[keep], predict_values[keep], tuple(codes), tuple(labels),
                     None if share is None else share[keep])


def _factorize_as_strings(column: np.ndarray, dim: str) -> tuple[np.ndarray, np.ndarray]:
    """(code of each value, sorted distinct values as strings); ValueError if a value is missing.

    A column of strings is factorised as it is and only its distinct values are sorted, which is
    the same result as converting every value to a string first, at a fraction of the cost; any
    other column is converted value by value (so 1 and 1.0 stay apart, as their strings do)."""
    if pd.api.types.infer_dtype(column, skipna=False) == "string":
        raw, distinct = pd.factorize(column)
        if (raw < 0).any():
            raise ValueError(f"dimension column {dim!r} has missing values")
        labels, renumber = np.unique(np.asarray(distinct, dtype=object), return_inverse=True)
        return renumber.astype(np.int64)[raw], np.asarray(labels, dtype=object)
    if pd.isna(column).any():
        raise ValueError(f"dimension column {dim!r} has missing values")
    code, uniques = pd.factorize(column.astype(str), sort=True)
    return code.astype(np.int64), np.asarray(uniques, dtype=object)
