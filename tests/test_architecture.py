"""Dependencies point one way.

cli -> serve -> (tune, infer) -> train -> (data, modelbuild, pipelines) -> (labels, store, bundle, losses)
-> (preprocessing, metrics, viz, models) -> (config, runtime) -> io -> errors.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "platform" / "cryoray"

#: A module of package P may import cryoray.Q only when Q is P or ranks lower than P.
RANK = {
    "errors": 0,
    "sample": 0,
    "io": 1,
    "config": 2,
    "runtime": 2,
    "preprocessing": 3,
    "metrics": 3,
    "viz": 3,
    "models": 3,
    "labels": 4,
    "store": 4,
    "bundle": 4,
    "losses": 4,
    "data": 5,
    "modelbuild": 5,
    "pipelines": 5,
    "evaluation": 5,
    "train": 6,
    "tune": 7,
    "infer": 7,
    "serve": 8,
    "benchmark": 8,
    "cli": 9,
}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("cryoray.")}


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_imports_point_down_the_layers(path: Path) -> None:
    rel = path.relative_to(PACKAGE)
    own = rel.parts[0].removesuffix(".py")
    assert own in RANK, f"new top-level module cryoray.{own}: give it a layer in RANK"
    for module in _imports(path):
        other = _package(module)
        assert other in RANK, f"{rel} imports unknown cryoray package {module}"
        assert other == own or RANK[other] < RANK[own], f"{rel} (layer {own}) must not import {module}"


def test_no_init_directly_in_platform() -> None:
    """platform/__init__.py would shadow Python's standard `platform` module."""
    assert not (PACKAGE.parent / "__init__.py").exists()
