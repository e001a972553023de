"""The statewide benchmark: `python -m benchmarks.run` (or `make bench`).

Measures a full rebuild stage by stage against a hand-written DuckDB floor, a district's
resubmission through the live sensor path, the cost of validation, analyst query latency
and growth with data size. See docs/benchmark.md.
"""
