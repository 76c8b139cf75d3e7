"""Multi-dimensional root-cause localisation and impact estimation.

`localize` finds the few dimension-value combinations that explain a deviation between observed and
expected leaf values; `localize_ratio` does it for a ratio metric kept as numerator and denominator;
`estimate_impact` turns a client-vs-warehouse discrepancy on those slices into a number of under- or
over-counted events with an interval.
"""
from rootcause.impact import estimate_impact
from rootcause.localize import localize, material
from rootcause.model import Impact, RootCause
from rootcause.ratio import expected_numerator, forecast_share, localize_ratio

__all__ = ["Impact", "RootCause", "estimate_impact", "expected_numerator", "forecast_share", "localize",
           "localize_ratio", "material"]
