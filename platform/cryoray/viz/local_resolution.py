"""Pictures of a local-resolution map: a histogram inside the mask, and slices coloured by resolution."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from cryoray.io.density_map import DensityMap

__all__ = ["save_resolution_histogram", "save_resolution_slices"]


def save_resolution_histogram(
    path: str | os.PathLike, values: np.ndarray, *, percentiles: dict[str, float] | None = None, title: str = ""
) -> None:
    """Histogram of local resolutions in Å (the voxels inside the mask), with percentiles marked.

    Args:
        values: resolution per voxel, Å (1D).
        percentiles: name -> Å, drawn as vertical lines (e.g. ``{"median": 3.4}``).
    """
    values = np.asarray(values, dtype=float).ravel()
    if not values.size:
        raise ValueError("no resolution value to draw")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(values, bins=min(60, max(10, int(np.sqrt(values.size)))), color="tab:blue", alpha=0.8)
    for (name, value), style in zip((percentiles or {}).items(), ("--", ":", "-.", "-", (0, (1, 4))), strict=False):
        ax.axvline(value, color="tab:red", linestyle=style, linewidth=1, label=f"{name} {value:.2f} Å")
    if percentiles:
        ax.legend(fontsize=8)
    ax.set_xlabel("local resolution (Å)")
    ax.set_ylabel("voxels")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_resolution_slices(
    path: str | os.PathLike, density: DensityMap, resolution: DensityMap, *, title: str = ""
) -> None:
    """Three orthogonal sections (xy, xz, yz) through the centre of the measured voxels: ``density`` in
    grey, the resolution (voxels above 0) in colour on top, with a colour bar in Å.

    Both maps lie on one frame; panels are drawn in Å on that frame.
    """
    if not density.frame.same_as(resolution.frame):
        raise ValueError("the density and the resolution map must lie on one frame")
    measured = resolution.data > 0
    if not measured.any():
        raise ValueError("the resolution map holds no measured voxel")
    f = density.frame
    centre = [round(float(np.mean(np.flatnonzero(measured.any(axis=other))))) for other in ((1, 2), (0, 2), (0, 1))]
    low, high = np.percentile(resolution.data[measured], [2, 98])
    # Pixels span voxel edges: per axis (x, y, z), the extent in Å from the first to the last edge.
    spans = [(o - v / 2, u + v / 2) for o, v, u in zip(f.origin, f.voxel_size, f.upper, strict=True)]
    heights = [o + c * v for o, c, v in zip(f.origin, centre[::-1], f.voxel_size, strict=True)]  # (x, y, z)
    k, j, i = centre
    # (section, what it cuts, axis across, axis up); sections index (z, y, x), axes 0 = x, 1 = y, 2 = z
    panels = (
        (f"xy at z = {heights[2]:.1f} Å", np.s_[k, :, :], 0, 1),
        (f"xz at y = {heights[1]:.1f} Å", np.s_[:, j, :], 0, 2),
        (f"yz at x = {heights[0]:.1f} Å", np.s_[:, :, i], 1, 2),
    )
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4), layout="constrained")
    image = None
    for ax, (name, cut, across, up) in zip(axes, panels, strict=True):
        extent = (*spans[across], *spans[up])
        ax.imshow(density.data[cut], origin="lower", cmap="gray", extent=extent, interpolation="nearest")
        shown = np.ma.masked_where(~measured[cut], resolution.data[cut])
        image = ax.imshow(
            shown, origin="lower", cmap="turbo", vmin=low, vmax=high, extent=extent, interpolation="nearest", alpha=0.8
        )
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(f"{'xyz'[across]} (Å)")
        ax.set_ylabel(f"{'xyz'[up]} (Å)")
    fig.colorbar(image, ax=list(axes), label="local resolution (Å)", shrink=0.85)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
