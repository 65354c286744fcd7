"""Map–model correlations as Phenix's map_model_cc defines them (Afonine et al. 2018, Acta Cryst D74:814).

All four are Pearson correlations (about the means) between the experimental map and a map
simulated from the model at the map's resolution on the same grid, over different voxel sets:

* CC_box: every voxel of the box;
* CC_mask: voxels within a resolution-dependent radius of any atom (:func:`cc_mask_radius`);
* CC_volume: the N highest voxels of the model map, N = the number of mask voxels;
* CC_peaks: the union of the N highest voxels of the model map and the N highest of the experimental map.

This module takes the model map and the mask as arrays, so metrics need not import the
simulator or the mask builder of higher layers: the caller makes the model map (e.g.
``cryoray.labels.simulate.simulate_map``) and the mask (e.g. ``cryoray.preprocessing.masks.zone_mask``
with :func:`cc_mask_radius`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cryoray.errors import ConfigError, MapValueError
from cryoray.io.density_map import DensityMap
from cryoray.metrics.grids import check_same_frame

__all__ = ["MASK_RADIUS_RANGE", "MapModelCorrelations", "cc_mask_radius", "map_model_correlations"]

#: Bounds in Å of the CC_mask atom radius (Phenix: at least 3 Å, at most 10 Å).
MASK_RADIUS_RANGE = (3.0, 10.0)


@dataclass(frozen=True)
class MapModelCorrelations:
    """Result of :func:`map_model_correlations`; ``n_mask`` is the number of mask voxels (N)."""

    cc_box: float
    cc_mask: float
    cc_volume: float
    cc_peaks: float
    n_mask: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def cc_mask_radius(resolution: float) -> float:
    """Atom radius in Å of the CC_mask mask at ``resolution`` Å: the resolution, kept within 3–10 Å.

    Phenix takes the larger of the resolution and the radius of a carbon atom's image at that
    resolution and the model's mean B, then bounds it to 3–10 Å. The image radius needs cctbx's
    electron scattering tables and is not computed here, so for models with large B factors this
    radius can be smaller than Phenix's.

    Raises:
        ConfigError: the resolution is not a positive finite number.
    """
    if not (np.isfinite(resolution) and resolution > 0):
        raise ConfigError("resolution", f"must be a positive number of Å, got {resolution}")
    lo, hi = MASK_RADIUS_RANGE
    return float(min(hi, max(lo, resolution)))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equal-length 1D arrays in float64 (NaN if either is constant)."""
    a = a.astype(np.float64) - a.mean(dtype=np.float64)
    b = b.astype(np.float64) - b.mean(dtype=np.float64)
    denominator = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / denominator) if denominator > 0 else float("nan")


def _top(values: np.ndarray, n: int) -> np.ndarray:
    """Flat indices of the ``n`` highest values (ties at the boundary broken arbitrarily)."""
    return np.argpartition(values, values.size - n)[values.size - n :]


def map_model_correlations(
    experimental: DensityMap,
    model_map: DensityMap,
    mask: np.ndarray,
    *,
    source: str = "model map",
    mask_source: str = "mask",
) -> MapModelCorrelations:
    """CC_box, CC_mask, CC_volume and CC_peaks of ``experimental`` against ``model_map``.

    Args:
        experimental: the experimental map.
        model_map: the map simulated from the model at the experimental map's resolution, on its grid.
        mask: boolean ``(z, y, x)`` array: voxels within :func:`cc_mask_radius` of the atoms.
        source: what to call the model map in errors.
        mask_source: what to call the mask in errors.

    Raises:
        MapValueError: the grids differ, the mask has the wrong shape or is empty, or a map is not finite.
    """
    check_same_frame(experimental, model_map, source=source)
    mask = np.asarray(mask)
    if mask.shape != experimental.frame.shape or mask.dtype != bool:
        raise MapValueError(mask_source, f"mask must be boolean of the map's shape {experimental.frame.shape}")
    n = int(mask.sum())
    if n == 0:
        raise MapValueError(mask_source, "mask is empty: no voxel lies near the model")
    exp, mod = experimental.data.ravel(), model_map.data.ravel()
    for values, name in ((exp, "experimental map"), (mod, source)):
        if not np.isfinite(values).all():
            raise MapValueError(name, "map holds non-finite values (NaN or Inf)")
    inside = mask.ravel()
    volume = _top(mod, n)
    peaks = np.union1d(volume, _top(exp, n))
    return MapModelCorrelations(
        cc_box=_pearson(exp, mod),
        cc_mask=_pearson(exp[inside], mod[inside]),
        cc_volume=_pearson(exp[volume], mod[volume]),
        cc_peaks=_pearson(exp[peaks], mod[peaks]),
        n_mask=n,
    )
