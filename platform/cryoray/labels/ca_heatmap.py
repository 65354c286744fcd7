"""A dense Cα target: a Gaussian heatmap around every Cα atom, for networks that regress and then peak-pick.

One voxel per residue (the ``atom`` label's Cα class) is too rare a class to learn from a few
maps: plain cross-entropy never predicts it, weighted cross-entropy predicts it everywhere.
Modern tracers regress a smooth map that peaks at each atom instead; its local maxima are the
Cα candidates. Each voxel holds ``max over Cα of exp(−d² / 2σ²)`` with ``d`` the distance in Å
from the voxel centre to the atom, so a peak is 1 at the atom, ~0.6 one voxel away on a 1 Å grid,
and neighbouring Cα atoms (3.8 Å apart) stay separate peaks. The stencil is cut at 3σ.
"""

from __future__ import annotations

import math

import numpy as np

from cryoray.io.density_map import GridFrame
from cryoray.io.models import AtomTable

__all__ = ["CA_HEATMAP_SIGMA", "ca_heatmap"]

#: width of each Cα's Gaussian in Å: the ~1 Å a good map places a Cα to, and narrow enough that
#: two Cα atoms 3.8 Å apart overlap by exp(−3.8² / 2) < 0.001
CA_HEATMAP_SIGMA = 1.0
_ATOMS_PER_PASS = 4096  # bounds the (atoms × stencil) index arrays to ~30 MB


def ca_heatmap(frame: GridFrame, atoms: AtomTable, sigma: float = CA_HEATMAP_SIGMA) -> np.ndarray:
    """float32 grid on ``frame``: the Gaussian heatmap of the amino-acid Cα atoms (0 far from any)."""
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"`sigma` must be a finite number > 0, got {sigma}")
    heat = np.zeros(frame.shape, dtype=np.float32)
    ca = atoms.xyz[atoms.is_amino_acid & atoms.is_ca]
    if len(ca) == 0:
        return heat
    reach = math.ceil(3 * sigma / min(frame.voxel_size))
    axis = np.arange(-reach, reach + 1)
    stencil = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    for start in range(0, len(ca), _ATOMS_PER_PASS):
        xyz = ca[start : start + _ATOMS_PER_PASS]
        index = (frame.nearest_voxel(xyz)[:, None, :] + stencil[None]).reshape(-1, 3)
        owner = np.repeat(np.arange(len(xyz)), len(stencil))
        inside = frame.contains_index(index)
        index, owner = index[inside], owner[inside]
        d2 = ((frame.index_to_xyz(index) - xyz[owner]) ** 2).sum(axis=1)
        value = np.exp(-d2 / (2 * sigma**2)).astype(np.float32)
        near = d2 <= (3 * sigma) ** 2
        np.maximum.at(heat, tuple(index[near].T), value[near])
    return heat
