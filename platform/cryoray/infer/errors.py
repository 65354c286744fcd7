"""Typed errors of inference; all are :class:`cryoray.errors.InputError` (CLI: exit 2, one line)."""

from __future__ import annotations

from cryoray.errors import ModelReferenceError

__all__ = ["ModelReferenceError"]
