"""HMM states: clustered Cα candidates with positions, amino-acid and Cα probabilities.

A states file (``STATES.npz``, as ``numpy.savez``) holds three arrays:

* ``xyz``: ``(K, 3)`` positions in Å, (x, y, z);
* ``aa_probs``: ``(K, 20)`` amino-acid probabilities in cryoray's order
  ``A R N D C Q E G H I L K M F P S T W Y V``;
* ``ca_prob``: ``(K,)`` Cα probability of each state.

Rules checked on reading (and by :meth:`HmmStates.validated` for arrays from code): every
value finite, probabilities in [0, 1]. Amino-acid rows need not sum to 1: the HMM normalises
each row (after adding 1e-20, exactly as Cryo2Struct does), so a row of zeros means "no
information" (uniform). Rows whose sum is off by more than 1e-3 are counted in
:attr:`HmmStates.unnormalised_rows` so callers can report them.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass

import numpy as np

from cryoray.io.sources import read_bytes
from cryoray.modelbuild.errors import StatesFormatError

__all__ = ["MAX_STATES_BYTES", "HmmStates", "read_states", "write_states"]

#: Largest states file read (decompressed); 1 M states take ~190 MB.
MAX_STATES_BYTES = 1 << 30
_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class HmmStates:
    """Cα states for threading (see module docs for the arrays and their rules).

    Args:
        xyz: ``(K, 3)`` float64 positions in Å.
        aa_probs: ``(K, 20)`` float64 amino-acid probabilities.
        ca_prob: ``(K,)`` float64 Cα probabilities.
    """

    xyz: np.ndarray
    aa_probs: np.ndarray
    ca_prob: np.ndarray

    def __len__(self) -> int:
        return len(self.xyz)

    @property
    def unnormalised_rows(self) -> int:
        """Number of amino-acid rows whose sum differs from 1 by more than 1e-3."""
        return int(np.count_nonzero(np.abs(self.aa_probs.sum(axis=1) - 1.0) > _SUM_TOLERANCE))

    @classmethod
    def validated(cls, xyz: object, aa_probs: object, ca_prob: object, *, source: object = "<states>") -> HmmStates:
        """Check shapes and values and return float64 copies.

        Raises:
            StatesFormatError: wrong shapes, no states, NaN/Inf, or probabilities outside [0, 1].
        """
        arrays = {}
        for name, value, shape in (
            ("xyz", xyz, (None, 3)),
            ("aa_probs", aa_probs, (None, 20)),
            ("ca_prob", ca_prob, (None,)),
        ):
            try:
                arr = np.array(value, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise StatesFormatError(source, f"{name}: not a numeric array ({exc})") from exc
            if arr.ndim != len(shape) or any(
                want is not None and got != want for got, want in zip(arr.shape, shape, strict=True)
            ):
                want = "(K, " + ", ".join(str(s) for s in shape[1:]) + ")" if len(shape) > 1 else "(K,)"
                raise StatesFormatError(source, f"{name}: expected shape {want}, got {arr.shape}")
            bad = ~np.isfinite(arr)
            if bad.any():
                row = int(np.argwhere(bad)[0][0])
                raise StatesFormatError(source, f"{name}: {int(bad.sum())} NaN/Inf values (first in state {row})")
            arrays[name] = arr
        sizes = {name: len(arr) for name, arr in arrays.items()}
        if len(set(sizes.values())) != 1:
            raise StatesFormatError(source, f"arrays disagree on the number of states: {sizes}")
        if sizes["xyz"] == 0:
            raise StatesFormatError(source, "no states")
        for name in ("aa_probs", "ca_prob"):
            arr = arrays[name]
            if arr.min() < 0 or arr.max() > 1:
                row = int(np.argwhere((arr < 0) | (arr > 1))[0][0])
                raise StatesFormatError(source, f"{name}: probabilities must lie in [0, 1] (state {row} does not)")
        return cls(**arrays)


def read_states(source: str | os.PathLike) -> HmmStates:
    """Read and check a states ``.npz`` file (path or fsspec URL; see module docs).

    Raises:
        SourceError: cannot read the source.
        StatesFormatError: not an ``.npz`` file, missing arrays, or arrays that break the rules.
    """
    raw = read_bytes(source, limit=MAX_STATES_BYTES, what="states file", corrupt=StatesFormatError)
    try:
        loaded = np.load(io.BytesIO(raw), allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise StatesFormatError(source, "a single .npy array, not an .npz file of xyz, aa_probs and ca_prob")
        with loaded as npz:
            missing = [k for k in ("xyz", "aa_probs", "ca_prob") if k not in npz.files]
            if missing:
                raise StatesFormatError(source, f"missing arrays {missing} (found {sorted(npz.files)})")
            arrays = {k: npz[k] for k in ("xyz", "aa_probs", "ca_prob")}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise StatesFormatError(source, f"not a readable .npz file: {' '.join(str(exc).split())}") from exc
    return HmmStates.validated(**arrays, source=os.fspath(source))


def write_states(path: str | os.PathLike, states: HmmStates) -> None:
    """Write states as an uncompressed ``.npz`` file (float64 arrays)."""
    np.savez(path, xyz=states.xyz, aa_probs=states.aa_probs, ca_prob=states.ca_prob)
