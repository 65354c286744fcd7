"""Typed errors of inference; all are :class:`cryoray.errors.InputError` (CLI: exit 2, one line)."""

from __future__ import annotations

from cryoray.errors import InputError

__all__ = ["ModelReferenceError"]


class ModelReferenceError(InputError):
    """A model reference cannot be used: no checkpoint there, unknown registered model, bad weights."""
