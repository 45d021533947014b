"""Benchmarks: oracle, metric learning and simulated annotator."""
