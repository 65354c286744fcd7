"""Synthetic half maps with a known local resolution: a real map low-passed region by region, plus noise per half.

Few EMDB entries in our data come with half maps, and a local-resolution estimate of real halves
has no ground truth. These halves do: region ``r`` of the map (voxels labelled ``r``) is
low-passed to ``resolutions[r]`` Å (:func:`~cryoray.preprocessing.filters.lowpass`, a raised
cosine from 0.9 to 1.1 times ``1 / resolution``), the regions are blended over a few Å so no
seam adds high frequencies, and each half gets its own Gaussian white noise. Beyond a region's
cutoff the halves share nothing, below it they share the map's signal: their FSC there falls at
the cutoff, which is what a local-resolution estimator should report (the ``truth`` map).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cryoray.io.density_map import DensityMap
from cryoray.preprocessing.filters import lowpass

__all__ = ["SyntheticHalves", "synthetic_halves"]


@dataclass(frozen=True)
class SyntheticHalves:
    """Two half maps and the resolution they were made at.

    Args:
        half1, half2: the half maps, on the input map's frame.
        truth: the cutoff in Å of the region each voxel belongs to, on the same frame.
        signal: the blended, low-passed map both halves share (before noise).
    """

    half1: DensityMap
    half2: DensityMap
    truth: DensityMap
    signal: DensityMap


def synthetic_halves(
    density: DensityMap,
    labels: np.ndarray,
    resolutions: Sequence[float],
    *,
    noise: float = 0.3,
    blend: float = 2.0,
    seed: int = 0,
) -> SyntheticHalves:
    """Half maps of ``density`` whose region ``r`` (``labels == r``) holds resolution ``resolutions[r]`` Å.

    Args:
        density: the real map.
        labels: region index of each voxel, integers ``0 .. len(resolutions) - 1``, shape ``(nz, ny, nx)``.
        resolutions: cutoff of each region in Å.
        noise: standard deviation of each half's white noise, in units of the standard deviation
            of the shared signal over the whole box.
        blend: width in Å (Gaussian σ) over which neighbouring regions blend.
        seed: the noise's random seed.

    Memory: one low-passed copy of the map per region at a time, plus the outputs.

    Raises:
        ValueError: labels of the wrong shape or outside the regions, a resolution that is not a
            positive number, or a negative ``noise`` or ``blend``.
    """
    labels = np.asarray(labels)
    if labels.shape != density.frame.shape:
        raise ValueError(f"`labels` shape {labels.shape} (z, y, x) differs from the map shape {density.frame.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= len(resolutions):
        raise ValueError(f"`labels` must be integers from 0 to {len(resolutions) - 1} (one per resolution)")
    if not (noise >= 0 and blend >= 0):
        raise ValueError(f"`noise` and `blend` must not be negative, got {noise} and {blend}")
    sigma = blend / np.asarray(density.frame.voxel_size)[::-1]  # voxels along (z, y, x)
    signal = np.zeros(density.frame.shape, dtype=np.float32)
    total = np.zeros(density.frame.shape, dtype=np.float32)
    for region, resolution in enumerate(resolutions):
        weight = ndimage.gaussian_filter((labels == region).astype(np.float32), sigma, mode="nearest")
        signal += weight * lowpass(density, float(resolution)).data
        total += weight
    signal /= np.maximum(total, np.float32(1e-6))  # the weights of every voxel sum to 1
    sd = np.float32(noise * float(signal.std()))
    rng = np.random.default_rng(seed)
    halves = [signal + sd * rng.standard_normal(signal.shape, dtype=np.float32) for _ in range(2)]
    truth = np.asarray(resolutions, dtype=np.float32)[labels]
    label = f"cryoray synthetic halves {'/'.join(f'{r:g}' for r in resolutions)}A noise {noise:g}"
    return SyntheticHalves(
        half1=DensityMap(data=halves[0], frame=density.frame, labels=(label, "half 1")),
        half2=DensityMap(data=halves[1], frame=density.frame, labels=(label, "half 2")),
        truth=DensityMap(data=truth, frame=density.frame, labels=(label, "truth")),
        signal=DensityMap(data=signal, frame=density.frame, labels=(label,)),
    )
