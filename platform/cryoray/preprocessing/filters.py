"""Fourier filters of a map on its own grid: a low-pass at a resolution, the no-network baseline of enhancement."""

from __future__ import annotations

import numpy as np

from cryoray.io.density_map import DensityMap

__all__ = ["lowpass"]


def lowpass(density: DensityMap, resolution: float, *, edge: float = 0.1) -> DensityMap:
    """``density`` with spatial frequencies beyond ``1 / resolution`` removed, on the same grid.

    The filter is 1 up to ``(1 - edge) / resolution`` and falls as a raised cosine to 0 at
    ``(1 + edge) / resolution`` (a hard cut would ring). Noise beyond the resolution carries no
    signal, so this is what an enhancement network must beat without learning anything.

    Raises:
        ValueError: ``resolution`` is not positive, or ``edge`` not within (0, 1).
    """
    if not (np.isfinite(resolution) and resolution > 0):
        raise ValueError(f"`resolution` must be a positive number of Å, got {resolution}")
    if not 0 < edge < 1:
        raise ValueError(f"`edge` must be within (0, 1), got {edge}")
    nz, ny, nx = density.frame.shape
    vx, vy, vz = density.frame.voxel_size
    kz, ky, kx = np.fft.fftfreq(nz, vz), np.fft.fftfreq(ny, vy), np.fft.rfftfreq(nx, vx)
    lo, hi = (1 - edge) / resolution, (1 + edge) / resolution
    transform = np.fft.rfftn(density.data)
    for k in range(nz):  # slab by slab: no full-size frequency grid
        s = np.sqrt(kz[k] ** 2 + ky[:, None] ** 2 + kx[None, :] ** 2)
        transform[k] *= 0.5 * (1 + np.cos(np.pi * np.clip((s - lo) / (hi - lo), 0.0, 1.0)))
    data = np.fft.irfftn(transform, s=density.frame.shape).astype(np.float32)
    return DensityMap(data=data, frame=density.frame, labels=(f"cryoray lowpass {resolution:g}A",))
