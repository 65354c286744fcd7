"""Helpers shared by tests and benchmarks: data paths, local servers, tiny models, synthetic cases.

Test modules and conftest files import from here; nothing imports a conftest or a ``test_*`` module
(checked by tests/test_collection.py).
"""
