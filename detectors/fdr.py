"""Benjamini-Hochberg false discovery rate control across the slices tested in one run.

Benjamini & Hochberg, "Controlling the False Discovery Rate: a Practical and Powerful Approach to
Multiple Testing", JRSS B 57 (1995). The adjusted value q_(i) = min_{j >= i} p_(j) m / j; rejecting
q <= alpha controls the FDR at alpha for independent (and positively dependent) tests.
"""
from __future__ import annotations

import numpy as np


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """BH-adjusted q-values; NaN p-values (untested slices) stay NaN and do not count towards m."""
    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = tested.size
    if m == 0:
        return q
    order = tested[np.argsort(p[tested], kind="stable")]
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return q
