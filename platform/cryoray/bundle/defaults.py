"""The model bundles shipped inside the package: what ``cryoray build-model`` and ``cryoray enhance``
use when no ``--model`` is given.

Each lives in ``cryoray/bundle/defaults/NAME/`` as an ordinary bundle (``model.safetensors`` +
``bundle.json``) with a ``MODEL_CARD.md``: its training data, recipe, held-out numbers and limits.
They are referred to as ``default:NAME`` wherever a model reference is taken, and are made by
``python -m tests.benchmarks.bench_recipes --export platform/cryoray/bundle/defaults``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["DEFAULT_BUILDER", "DEFAULT_ENHANCER", "DEFAULT_PREFIX", "MODEL_CARD", "default_bundle", "default_names"]

DEFAULT_PREFIX = "default:"
#: the references the CLI falls back to
DEFAULT_BUILDER = f"{DEFAULT_PREFIX}builder"
DEFAULT_ENHANCER = f"{DEFAULT_PREFIX}enhancer"
MODEL_CARD = "MODEL_CARD.md"


def _root() -> Path:
    return Path(str(resources.files(__package__).joinpath("defaults")))


def default_names() -> list[str]:
    """Names of the shipped bundles (folders with a bundle in them)."""
    root = _root()
    return sorted(p.name for p in root.iterdir() if (p / "bundle.json").is_file()) if root.is_dir() else []


def default_bundle(name: str) -> Path:
    """The directory of shipped bundle ``name`` (``builder``, ``enhancer``).

    Raises:
        KeyError: no such shipped bundle (the message lists those there are).
    """
    if name not in default_names():
        raise KeyError(f"no shipped model {name!r}; shipped: {', '.join(default_names()) or 'none'}")
    return _root() / name
