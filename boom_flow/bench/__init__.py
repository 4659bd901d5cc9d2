"""Benchmark harness: the reference workload, its measurement and ceilings, reports."""
