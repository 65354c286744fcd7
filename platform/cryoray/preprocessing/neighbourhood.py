"""Voxels near atoms: the exact set of voxel centres within a radius of each atom.

Used for zone masks here and for labels and simulated maps later. The work is one vectorised
pass per offset of a small stencil (a box of ``ceil(r / voxel) + 1`` voxels around each atom's
nearest voxel), so time grows with atoms x stencil and memory with the atoms only, never with
voxels x atoms or with the whole grid.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cryoray.io.density_map import GridFrame

__all__ = ["voxels_near"]


def voxels_near(
    frame: GridFrame, xyz: np.ndarray, radius: float
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(flat_index, atom_index, distance2)`` for voxel centres within ``radius`` Å of atoms.

    Each yield covers one stencil offset; a voxel near several atoms appears once per atom.
    ``flat_index`` indexes the C-ordered ``(z, y, x)`` array of ``frame``; ``distance2`` is in Å².
    """
    if radius < 0:
        raise ValueError(f"`radius` must be >= 0, got {radius}")
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    voxel = np.asarray(frame.voxel_size)[::-1]  # z, y, x
    base = frame.nearest_voxel(xyz)  # (N, 3) z, y, x
    # Offset in Å from each atom to its nearest voxel centre.
    delta = (base - frame.xyz_to_index(xyz)) * voxel
    reach = np.ceil(radius / voxel).astype(int) + 1
    shape = np.asarray(frame.shape)
    r2 = radius * radius
    atoms = np.arange(len(xyz))
    for dz in range(-reach[0], reach[0] + 1):
        for dy in range(-reach[1], reach[1] + 1):
            for dx in range(-reach[2], reach[2] + 1):
                step = np.array([dz, dy, dx])
                d = delta + step * voxel
                d2 = np.einsum("ij,ij->i", d, d)
                idx = base + step
                keep = (d2 <= r2) & np.all((idx >= 0) & (idx < shape), axis=1)
                if keep.any():
                    flat = np.ravel_multi_index(idx[keep].T, frame.shape)
                    yield flat, atoms[keep], d2[keep]
