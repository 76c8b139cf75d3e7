"""Steady-state sizing of a client-vs-warehouse pair: how many events the client side under-counts on
ordinary days (incident days left out and sized apart), where, how it trends, and what fixing it recovers.

    settings = SizingSettings.from_config(config, "client_vs_warehouse_events")
    counts = read_counts(settings, store, start, end)      # per slice and day, with the excluded days
    sized = size_slices(counts)                             # totals with block-bootstrap intervals
"""
from sizing.data import PairCounts, SizingSettings, read_counts
from sizing.estimate import size_slices

__all__ = ["PairCounts", "SizingSettings", "read_counts", "size_slices"]
