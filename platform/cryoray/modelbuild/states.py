"""HMM states: clustered Cα candidates with positions, amino-acid and Cα probabilities.

A states file (``STATES.npz``, as ``numpy.savez``) holds three arrays:

* ``xyz``: ``(K, 3)`` positions in Å, (x, y, z);
* ``aa_probs``: ``(K, 20)`` amino-acid probabilities in cryoray's order
  ``A R N D C Q E G H I L K M F P S T W Y V``;
* ``ca_prob``: ``(K,)`` Cα probability of each state.

Rules checked on reading (and by :meth:`HmmStates.validated` for arrays from code): every
value finite, probabilities in [0, 1]. Before any array is loaded, each member's ``.npy``
header must describe exactly the bytes stored (and at most ``MAX_STATES_BYTES`` in all), so a
756-byte file declaring a 10¹² × 3 array is refused instead of allocating 24 TB.
Amino-acid rows need not sum to 1: the HMM normalises each row (after adding 1e-20, exactly
as Cryo2Struct does), so a row of zeros means "no information" (uniform). Rows whose sum is
off by more than 1e-3 are counted in :attr:`HmmStates.unnormalised_rows` so callers can
report them.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
from dataclasses import dataclass

import numpy as np

from cryoray.io.sources import read_bytes
from cryoray.modelbuild.errors import StatesFormatError

__all__ = ["MAX_STATES_BYTES", "HmmStates", "read_states", "write_states"]

#: Largest states file read, and largest total of its (decompressed) arrays; 1 M states take ~190 MB.
MAX_STATES_BYTES = 1 << 30
_SUM_TOLERANCE = 1e-3
_ARRAYS = ("xyz", "aa_probs", "ca_prob")
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


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


def _check_headers(archive: zipfile.ZipFile, source: object) -> None:
    """Refuse members whose ``.npy`` header declares other bytes than are stored, or too many in all."""
    total = 0
    for name in _ARRAYS:
        if f"{name}.npy" not in archive.namelist():
            continue  # reported as missing by the caller
        info = archive.getinfo(f"{name}.npy")
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version not in _HEADER_READERS:
                raise StatesFormatError(source, f"{name}: .npy format version {version} is not supported")
            shape, _, dtype = _HEADER_READERS[version](member)
            stored = info.file_size - member.tell()
        declared = math.prod(shape) * dtype.itemsize
        if declared != stored:
            raise StatesFormatError(
                source,
                f"{name}: header declares shape {shape} ({declared} bytes of {dtype}) but {stored} bytes are stored",
            )
        total += declared
        if total > MAX_STATES_BYTES:
            raise StatesFormatError(source, f"arrays hold more than the limit of {MAX_STATES_BYTES} bytes")


def read_states(source: str | os.PathLike) -> HmmStates:
    """Read and check a states ``.npz`` file (path or fsspec URL; see module docs).

    Raises:
        SourceError: cannot read the source.
        StatesFormatError: not an ``.npz`` file, missing arrays, headers that disagree with the
            stored bytes, or arrays that break the rules.
    """
    raw = read_bytes(source, limit=MAX_STATES_BYTES, what="states file", corrupt=StatesFormatError)
    if raw.startswith(np.lib.format.MAGIC_PREFIX):
        raise StatesFormatError(source, "a single .npy array, not an .npz file of xyz, aa_probs and ca_prob")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            _check_headers(archive, source)
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            missing = [k for k in _ARRAYS if k not in npz.files]
            if missing:
                raise StatesFormatError(source, f"missing arrays {missing} (found {sorted(npz.files)})")
            arrays = {k: npz[k] for k in _ARRAYS}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise StatesFormatError(source, f"not a readable .npz file: {' '.join(str(exc).split())}") from exc
    return HmmStates.validated(**arrays, source=os.fspath(source))


def write_states(path: str | os.PathLike, states: HmmStates) -> None:
    """Write states as an uncompressed ``.npz`` file (float64 arrays)."""
    np.savez(path, xyz=states.xyz, aa_probs=states.aa_probs, ca_prob=states.ca_prob)
