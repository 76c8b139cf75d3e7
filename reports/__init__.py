"""Audit reports: what ran, what it checked, what it found and what happened to every alert."""
