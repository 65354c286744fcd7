"""Fourier shell correlation (FSC) between two maps on one grid, and the resolutions where it crosses 0.143 and 0.5.

    FSC(s) = Re sum F1 F2* / sqrt(sum |F1|^2 sum |F2|^2),  sums over the Fourier voxels of shell s

Shells are one Fourier voxel wide: ``1 / L`` in 1/Å with ``L`` the longest box edge in Å (the finest
reciprocal spacing), centred on multiples of it, up to the Nyquist frequency of the coarsest axis
(the largest sphere that fits in the transform). A crossing is interpolated linearly in spatial
frequency between the last shell at or above the threshold and the first one below it.

Memory: the two real FFTs (``numpy.fft.rfftn`` keeps float32 as complex64, half the size of the
map's complex transform each); the shell sums then run slab by slab, so no full-size temporary
beyond the transforms is made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cryoray.errors import MapValueError
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.metrics.grids import check_same_frame, check_weights

__all__ = ["FscCurve", "crossing_resolution", "fsc", "soft_edge_mask"]

_SLAB_VOXELS = 1 << 20  # Fourier voxels per slab in the shell sums


@dataclass(frozen=True)
class FscCurve:
    """An FSC curve and its crossings.

    Args:
        frequency: shell centres in 1/Å, ``(n_shells,)``; shell 0 holds the zero frequency.
        fsc: the correlation in each shell (NaN where a map has no power in the shell).
        n_voxels: Fourier voxels in each shell (whole sphere, both Friedel mates counted).
        resolution_0143: Å where the FSC first falls below 0.143, or None if it never does.
        resolution_05: the same for 0.5.
    """

    frequency: np.ndarray
    fsc: np.ndarray
    n_voxels: np.ndarray
    resolution_0143: float | None
    resolution_05: float | None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready, in ``cryoray evaluate``'s layout: the two resolutions in Å (or None) and the
        curve as ``[frequency in 1/Å, FSC or None, Fourier voxels]`` per shell."""
        return {
            "resolution_0_143": self.resolution_0143,
            "resolution_0_5": self.resolution_05,
            "curve": [
                [round(float(f), 6), None if np.isnan(c) else round(float(c), 5), int(n)]
                for f, c, n in zip(self.frequency, self.fsc, self.n_voxels, strict=True)
            ],
        }


def crossing_resolution(frequency: np.ndarray, curve: np.ndarray, threshold: float) -> float | None:
    """Resolution in Å where ``curve`` first falls below ``threshold``, interpolated linearly in frequency.

    The zero-frequency shell (one Fourier voxel: the maps' means) is not part of the search, as in
    RELION and servalcat: maps with means of opposite sign would otherwise "cross" at once. None
    when the curve never falls below the threshold, or is below it already in the first shell
    (nothing finer than the box). Shells with an undefined FSC (NaN) end the search: nothing can
    be said beyond them.
    """
    for i in range(1, len(curve)):
        value = curve[i]
        if np.isnan(value):
            return None
        if value < threshold:
            if i == 1:
                return None
            f0, f1, c0 = frequency[i - 1], frequency[i], curve[i - 1]
            at = f0 + (c0 - threshold) / (c0 - value) * (f1 - f0)
            return float(1.0 / at)
    return None


def _shell_geometry(frame: GridFrame) -> tuple[list[np.ndarray], float, int]:
    """Frequencies (1/Å) along the rfftn output axes (z, y, x), the shell width and the number of shells."""
    nz, ny, nx = frame.shape
    az, ay, ax = np.asarray(frame.voxel_size)[::-1]
    axes = [np.fft.fftfreq(nz, d=az), np.fft.fftfreq(ny, d=ay), np.fft.rfftfreq(nx, d=ax)]
    width = 1.0 / max(n * a for n, a in zip((nz, ny, nx), (az, ay, ax), strict=True))
    nyquist = 1.0 / (2.0 * max(az, ay, ax))
    return axes, width, int(np.floor(nyquist / width + 1e-9)) + 1


def fsc(
    map1: DensityMap,
    map2: DensityMap,
    *,
    mask: np.ndarray | DensityMap | None = None,
    source: str = "second map",
    mask_source: str = "mask",
) -> FscCurve:
    """FSC between two maps on one grid, optionally after multiplying both by ``mask`` (values in [0, 1]).

    A binary mask's hard edge adds correlation at all frequencies; soften it first with
    :func:`soft_edge_mask`.

    Raises:
        MapValueError: the grids differ, the maps hold non-finite values, or the mask is unusable.
    """
    check_same_frame(map1, map2, source=source)
    frame = map1.frame
    a, b = map1.data, map2.data
    if mask is not None:
        weights = check_weights(mask, frame, source=mask_source)
        a, b = a * weights, b * weights
    f1, f2 = np.fft.rfftn(a), np.fft.rfftn(b)
    if not (np.isfinite(f1).all() and np.isfinite(f2).all()):
        raise MapValueError(source, "the maps hold non-finite values (NaN or Inf)")
    (kz, ky, kx), width, n_shells = _shell_geometry(frame)
    # rfftn keeps x frequencies 0..nx//2 only: every other column stands for itself and its Friedel mate.
    mates = np.full(len(kx), 2.0)
    mates[0] = 1.0
    if frame.shape[2] % 2 == 0:
        mates[-1] = 1.0
    plane = ky[:, None] ** 2 + kx[None, :] ** 2
    sums = np.zeros((4, n_shells + 1))  # cross, power 1, power 2, count; the last bin collects the corners
    step = max(1, _SLAB_VOXELS // plane.size)
    for z0 in range(0, len(kz), step):
        z1 = min(len(kz), z0 + step)
        radius = np.sqrt(kz[z0:z1, None, None] ** 2 + plane[None])
        shell = np.minimum(np.rint(radius / width).astype(np.int64), n_shells).ravel()
        w = np.broadcast_to(mates, radius.shape).ravel()
        s1, s2 = f1[z0:z1].ravel(), f2[z0:z1].ravel()
        parts = ((s1 * s2.conj()).real * w, np.abs(s1) ** 2 * w, np.abs(s2) ** 2 * w, w)
        for row, weights in enumerate(parts):
            sums[row] += np.bincount(shell, weights=weights, minlength=n_shells + 1)
    cross, p1, p2, count = sums[:, :n_shells]
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = cross / np.sqrt(p1 * p2)
    frequency = np.arange(n_shells) * width
    return FscCurve(
        frequency=frequency,
        fsc=curve,
        n_voxels=count.astype(np.int64),
        resolution_0143=crossing_resolution(frequency, curve, 0.143),
        resolution_05=crossing_resolution(frequency, curve, 0.5),
    )


def soft_edge_mask(mask: np.ndarray, frame: GridFrame, width: float) -> np.ndarray:
    """A binary mask with a raised-cosine edge: 1 inside, falling to 0 over ``width`` Å outside.

    The distance of each outside voxel to the mask comes from scipy's exact Euclidean distance
    transform, in Å (anisotropic voxels allowed). Returns float32 on ``frame``'s voxels.

    Raises:
        MapValueError: the mask's shape is not the frame's, or it is empty.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != frame.shape:
        raise MapValueError("mask", f"mask shape {mask.shape} (z, y, x) differs from the map shape {frame.shape}")
    if not mask.any():
        raise MapValueError("mask", "mask is empty")
    if not width > 0:
        raise ValueError(f"`width` must be positive, got {width}")
    distance = ndimage.distance_transform_edt(~mask, sampling=np.asarray(frame.voxel_size)[::-1])
    edge = 0.5 * (1.0 + np.cos(np.pi * np.minimum(distance, width) / width))
    return edge.astype(np.float32)
