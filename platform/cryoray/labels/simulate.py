"""Simulated density from an atomic model (CryoTEN eq. 1), computed only near each atom.

    rho(y) = sum_i C * Z_i * exp(-k |x_i - y|^2),  k = (pi / (0.9 R))^2,  C = (k / pi)^(3/2)

with R the resolution in Å and Z_i the atomic number; every atom counts (hydrogens, ligands,
nucleic acids, waters). Each atom's Gaussian is summed over the voxels within the distance at
which it has fallen to ``CUTOFF`` of its peak, so the cost is atoms x (a small box) and the
memory is one output grid.

Hand-written in numba: no library we use splats per-atom Gaussians onto an arbitrary grid
frame (gemmi's DensityCalculator works in a periodic unit cell, which a cropped EM box is not).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from cryoray.errors import MapTooLargeError
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.io.models import AtomTable
from cryoray.io.mrc import MAX_VOXELS
from cryoray.preprocessing.filters import lowpass

__all__ = [
    "CUTOFF",
    "RESOLUTION_RANGE",
    "add_noise",
    "check_resolution",
    "frame_around",
    "gaussian_width",
    "simulate_map",
]

#: Relative value of an atom's Gaussian at which it is cut off.
CUTOFF = 1e-4
#: Resolutions in Å that make sense for a cryo-EM map (and keep the Gaussians computable).
RESOLUTION_RANGE = (0.5, 50.0)
#: Voxels above this fraction of a simulated map's maximum are "the molecule" that noise is scaled to.
MOLECULE_FRACTION = 0.05


def check_resolution(resolution: float) -> float:
    """``resolution`` if it is finite and within :data:`RESOLUTION_RANGE`; ValueError (saying the range) if not."""
    lo, hi = RESOLUTION_RANGE
    if not lo <= resolution <= hi:  # False for NaN too
        raise ValueError(f"resolution must be a finite number of Å from {lo:g} to {hi:g}, got {resolution}")
    return resolution


def gaussian_width(resolution: float) -> float:
    """k = (pi / (0.9 R))^2 in 1/Å² for resolution R in Å (within :data:`RESOLUTION_RANGE`)."""
    return (math.pi / (0.9 * check_resolution(resolution))) ** 2


@numba.njit(cache=True, nogil=True)
def _splat(out, origin_zyx, voxel_zyx, xyz, amplitude, k, reach):  # pragma: no cover - compiled
    nz, ny, nx = out.shape
    r2 = reach * reach
    for a in range(xyz.shape[0]):
        pz = (xyz[a, 2] - origin_zyx[0]) / voxel_zyx[0]
        py = (xyz[a, 1] - origin_zyx[1]) / voxel_zyx[1]
        px = (xyz[a, 0] - origin_zyx[2]) / voxel_zyx[2]
        z0 = max(0, math.ceil(pz - reach / voxel_zyx[0]))
        z1 = min(nz - 1, math.floor(pz + reach / voxel_zyx[0]))
        y0 = max(0, math.ceil(py - reach / voxel_zyx[1]))
        y1 = min(ny - 1, math.floor(py + reach / voxel_zyx[1]))
        x0 = max(0, math.ceil(px - reach / voxel_zyx[2]))
        x1 = min(nx - 1, math.floor(px + reach / voxel_zyx[2]))
        for z in range(z0, z1 + 1):
            dz = (z - pz) * voxel_zyx[0]
            for y in range(y0, y1 + 1):
                dy = (y - py) * voxel_zyx[1]
                dzy = dz * dz + dy * dy
                if dzy > r2:
                    continue
                for x in range(x0, x1 + 1):
                    dx = (x - px) * voxel_zyx[2]
                    d2 = dzy + dx * dx
                    if d2 <= r2:
                        out[z, y, x] += amplitude[a] * math.exp(-k * d2)


def simulate_map(atoms: AtomTable, frame: GridFrame, resolution: float) -> DensityMap:
    """Simulated density of ``atoms`` at ``resolution`` Å on the voxels of ``frame``."""
    k = gaussian_width(resolution)
    reach = math.sqrt(-math.log(CUTOFF) / k)
    amplitude = (k / math.pi) ** 1.5 * atoms.atomic_number.astype(np.float64)
    out = np.zeros(frame.shape, dtype=np.float32)
    _splat(
        out,
        np.asarray(frame.origin, dtype=np.float64)[::-1].copy(),
        np.asarray(frame.voxel_size, dtype=np.float64)[::-1].copy(),
        np.ascontiguousarray(atoms.xyz, dtype=np.float64),
        amplitude,
        k,
        reach,
    )
    label = f"cryoray simulate {resolution:g}A k={k:.4g} cutoff={CUTOFF:g}"
    return DensityMap(data=out, frame=frame, labels=(label,))


def frame_around(
    atoms: AtomTable,
    voxel_size: float = 1.0,
    padding: float = 10.0,
    *,
    max_voxels: int = MAX_VOXELS,
    source: object = "model",
) -> GridFrame:
    """A grid covering the atoms plus ``padding`` Å, origin on a multiple of the voxel size.

    Raises:
        MapTooLargeError: the grid would have more than ``max_voxels`` voxels (checked before it
            exists; a placeholder atom at 9999.999 Å would otherwise ask for terabytes).
    """
    if len(atoms) == 0:
        raise ValueError("no atoms to place a grid around")
    lo = np.floor((atoms.xyz.min(axis=0) - padding) / voxel_size) * voxel_size
    hi = atoms.xyz.max(axis=0) + padding
    n_xyz = np.ceil((hi - lo) / voxel_size) + 1  # float: no integer overflow for any coordinates
    voxels = math.prod(float(n) for n in n_xyz)
    if voxels > max_voxels:
        span = "x".join(f"{s:.0f}" for s in hi - lo)
        raise MapTooLargeError(
            source,
            f"a {voxel_size:g} Å grid around the atoms ({span} Å) would have {voxels:.4g} voxels, above the limit "
            f"of {max_voxels} (--max-voxels); are there placeholder coordinates such as 9999.999?",
        )
    return GridFrame(shape=tuple(n_xyz.astype(np.int64)[::-1]), voxel_size=(voxel_size,) * 3, origin=tuple(lo))


def add_noise(density: DensityMap, ratio: float, resolution: float, *, seed: int = 0) -> DensityMap:
    """``density`` plus Gaussian noise low-passed at ``resolution`` Å, a training map made from a model.

    The noise's standard deviation is ``ratio`` times the density's within the molecule (voxels
    above :data:`MOLECULE_FRACTION` of the maximum), so a simulated map of any size or element mix
    gets the same signal-to-noise ratio. Band-limiting the noise at the map's resolution keeps it
    from being what a network learns to tell apart: white noise beyond the resolution is removed
    by every map's own filtering. ``seed`` makes it reproducible.

    Raises:
        ValueError: ``ratio`` is negative or not finite, or ``density`` is all zero.
    """
    if not (np.isfinite(ratio) and ratio >= 0):
        raise ValueError(f"noise ratio must be a finite number >= 0, got {ratio}")
    data = density.data.astype(np.float64)
    peak = data.max()
    if not peak > 0:
        raise ValueError("cannot scale noise to a map without positive density")
    signal_std = data[data > MOLECULE_FRACTION * peak].std()
    white = np.random.default_rng(seed).standard_normal(density.frame.shape).astype(np.float32)
    noise = lowpass(DensityMap(data=white, frame=density.frame), resolution).data
    noisy = data + noise * (ratio * signal_std / noise.std())
    label = f"cryoray noise {ratio:g}x at {resolution:g}A seed={seed}"
    return DensityMap(data=noisy.astype(np.float32), frame=density.frame, labels=(*density.labels, label))
