"""Benchmark scripts (not tests): run from the repository root as ``python -m tests.benchmarks.bench_NAME``.

Each takes ``--smoke`` for a short run of the same code paths; tests/benchmarks/test_smoke.py runs them all so
they keep working.
"""
