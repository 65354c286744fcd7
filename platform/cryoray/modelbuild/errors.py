"""Typed errors of model building; all are :class:`cryoray.errors.InputError` (CLI: exit 2, one line)."""

from __future__ import annotations

from cryoray.errors import InputError

__all__ = ["ChainAssignmentError", "ModelOutputError", "StatesFormatError", "ThreadingTooLargeError"]


class StatesFormatError(InputError):
    """HMM states are unusable: missing arrays, wrong shapes, NaN/Inf, probabilities out of range."""


class ChainAssignmentError(InputError):
    """Sequences cannot be given to chains (a chain id named twice, an unusable chain id)."""


class ModelOutputError(InputError):
    """The model cannot be written in the format asked for (e.g. long chain ids in PDB)."""


class ThreadingTooLargeError(InputError):
    """Threading these states and chains would need more memory than the configured limit."""
