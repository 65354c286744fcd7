"""PNG pictures of central slices through maps, with optional atoms drawn on top."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from cryoray.io.density_map import DensityMap

__all__ = ["save_slices"]


def save_slices(
    path: str | os.PathLike,
    maps: Sequence[tuple[str, DensityMap]],
    *,
    z: float | None = None,
    atoms_xyz: np.ndarray | None = None,
    slab: float = 1.5,
) -> None:
    """Save one panel per map: the xy-section nearest the height ``z`` (Å), in each map's own frame.

    Args:
        path: output PNG.
        maps: ``(title, map)`` pairs; all are cut at the same height, so panels compare.
        z: height in Å (default: the middle of the first map).
        atoms_xyz: atoms to draw (those within ``slab`` Å of the section).
    """
    first = maps[0][1].frame
    if z is None:
        z = first.origin[2] + (first.shape[0] - 1) * first.voxel_size[2] / 2
    fig, axes = plt.subplots(1, len(maps), figsize=(4 * len(maps), 4.2), squeeze=False)
    for ax, (title, density) in zip(axes[0], maps, strict=False):
        f = density.frame
        k = int(np.clip(round((z - f.origin[2]) / f.voxel_size[2]), 0, f.shape[0] - 1))
        # Pixels span voxel edges: centres lie at origin + i * voxel_size, as in the map's frame.
        hx, hy = f.voxel_size[0] / 2, f.voxel_size[1] / 2
        extent = (f.origin[0] - hx, f.upper[0] + hx, f.origin[1] - hy, f.upper[1] + hy)
        ax.imshow(density.data[k], origin="lower", cmap="gray", extent=extent, interpolation="nearest")
        if atoms_xyz is not None and len(atoms_xyz):
            near = np.abs(atoms_xyz[:, 2] - (f.origin[2] + k * f.voxel_size[2])) <= slab
            ax.scatter(atoms_xyz[near, 0], atoms_xyz[near, 1], s=6, c="tab:orange", label="CA")
        ax.set_title(f"{title}\nz = {f.origin[2] + k * f.voxel_size[2]:.1f} Å", fontsize=9)
        ax.set_xlabel("x (Å)")
        ax.set_ylabel("y (Å)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
