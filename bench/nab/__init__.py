"""Numenta Anomaly Benchmark (NAB) harness: an independent scorer and a runner for our detectors."""
