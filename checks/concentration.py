"""Where the failing rows of a row-level expectation concentrate: failing counts per leaf, localised.

For each failing row-level expectation of a kind whose failing rows Spark can flag (nulls, values
out of a set, values not matching a regex, duplicated values), one aggregation counts rows and
failing rows per leaf (full combination of the table's dimensions); only those aggregates are
collected. The localiser (`rootcause.localize`) then compares each leaf's failing count with its
rows times the *typical* failing rate (the row-weighted median of the leaves' rates: a clean
baseline that the affected slices, unless they hold most rows, do not move), so that the slices
whose failing share stands out are named. When none stands out the failures are spread over the
whole table and the cause is "all slices (table-wide)".
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from rootcause import localize
from rootcause.model import TABLE_WIDE, leaves_in
from rootcause.noise import weighted_median

# The expectations whose failing rows are flagged here, and the Spark condition that flags one.
SUPPORTED = ("expect_column_values_to_not_be_null", "expect_column_values_to_be_in_set",
             "expect_column_values_to_match_regex", "expect_column_values_to_be_unique")
MISSING_VALUE = "(null)"


def failing_counts(df, expectations: Sequence[tuple[str, dict]], dimensions: Sequence[str]) -> pd.DataFrame:
    """One row per leaf: the dimensions, `rows`, and `failing_<i>` for each (name, kwargs) of
    `expectations` (names from SUPPORTED). One Spark job; the partition never leaves Spark."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    flags = []
    for i, (name, kwargs) in enumerate(expectations):
        column = F.col(kwargs["column"])
        if name == "expect_column_values_to_not_be_null":
            flag = column.isNull()
        elif name == "expect_column_values_to_be_in_set":
            flag = column.isNotNull() & ~column.isin(list(kwargs["value_set"]))
        elif name == "expect_column_values_to_match_regex":
            flag = column.isNotNull() & ~column.rlike(kwargs["regex"])
        elif name == "expect_column_values_to_be_unique":
            # Every row of a repeated value fails, as GX counts them. The window runs in a column
            # first: Spark allows no window function inside an aggregate.
            repeats = f"__repeats_{i}"
            df = df.withColumn(repeats, F.count(F.lit(1)).over(Window.partitionBy(column)))
            flag = column.isNotNull() & (F.col(repeats) > 1)
        else:
            raise ValueError(f"{name!r} is not one of {SUPPORTED}")
        flags.append(F.sum(F.when(flag, 1).otherwise(0)).alias(f"failing_{i}"))
    keys = [F.coalesce(F.col(d).cast("string"), F.lit(MISSING_VALUE)).alias(d) for d in dimensions]
    return df.groupBy(*keys).agg(F.count(F.lit(1)).alias("rows"), *flags).toPandas()


def concentration(leaves: pd.DataFrame, dimensions: Sequence[str], failing: str) -> list[dict]:
    """Root causes (as dicts) of `failing` counts per leaf against rows x the typical failing rate."""
    rows = leaves["rows"].to_numpy(dtype=np.float64)
    counts = leaves[failing].to_numpy(dtype=np.float64)
    if counts.sum() <= 0:
        return []
    # Leaf rates under the Jeffreys prior, (k + 1/2) / (n + 1): never exactly 0, so that a leaf with
    # rows and no failures is a leaf where failures could have been and were not.
    rate = weighted_median((counts + 0.5) / (rows + 1.0), rows)
    frame = leaves[list(dimensions)].copy()
    frame["failing"], frame["expected"] = counts, rows * rate
    causes = localize(frame, dimensions, real="failing", predict="expected", max_causes=5)
    causes = [c for c in causes if c.observed > c.expected     # where failures are, not where they are not
              and _binomial_excess(leaves, c.elements, rows, counts, rate, len(leaves))]
    if not causes:
        return [{"label": TABLE_WIDE, "elements": {}, "share": 1.0, "confidence": 1.0,
                 "observed": float(counts.sum()), "expected": float(counts.sum()),
                 "failing_rate": round(float(counts.sum() / max(rows.sum(), 1.0)), 6)}]
    out = []
    for cause in causes:
        hit = leaves_in(leaves, [cause.elements])
        out.append({"label": cause.label(), "elements": dict(cause.elements), "share": round(float(cause.share), 4),
                    "confidence": round(float(cause.confidence), 4), "observed": float(cause.observed),
                    "expected": round(float(cause.expected), 2),
                    "failing_rate": round(float(counts[hit].sum() / max(rows[hit].sum(), 1.0)), 6)})
    return out


def _binomial_excess(leaves, elements, rows, counts, rate: float, candidates: int, alpha: float = 0.01) -> bool:
    """Is the slice's failing count above what row-by-row sampling at the typical rate gives?

    Each row fails independently at `rate` under "spread over the whole table", so the slice's count is
    Binomial(rows, rate); the excess must clear that noise at `alpha`, Bonferroni-corrected over the
    candidate slices (at least one per leaf). The localiser's own noise model is fitted to forecast
    errors, which for failing counts understates the sampling noise of a rare event."""
    from scipy.stats import binom

    hit = leaves_in(leaves, [elements])
    n, k = int(rows[hit].sum()), int(counts[hit].sum())
    return bool(binom.sf(k - 1, n, min(max(rate, 1e-12), 1.0)) < alpha / max(candidates, 1))
