"""Masks on a map's grid: from a mask map and a contour level, or a zone around model atoms."""

from __future__ import annotations

import numpy as np

from cryoray.errors import MapValueError
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.io.mrc import MAX_VOXELS
from cryoray.preprocessing.neighbourhood import within_radius
from cryoray.preprocessing.resample import resample_onto

__all__ = ["contour_mask", "zone_mask"]


def contour_mask(
    mask_map: DensityMap, contour: float, frame: GridFrame, *, source: object = "mask", max_voxels: int = MAX_VOXELS
) -> np.ndarray:
    """Voxels of ``frame`` where ``mask_map`` is at or above ``contour``.

    The mask map may lie on another grid (e.g. cropped, or at the original voxel size); it is
    sampled trilinearly onto ``frame`` (at most ``max_voxels``) and counts as empty outside its own box.

    Raises:
        MapValueError: no voxel of ``frame`` is inside the mask.
        MapTooLargeError: ``frame`` has more than ``max_voxels`` voxels.
    """
    fill = float(np.finfo(np.float32).min)
    on_grid = resample_onto(mask_map, frame, order=1, fill=fill, max_voxels=max_voxels, source=source)
    mask = on_grid.data >= contour
    if not mask.any():
        raise MapValueError(source, f"no voxel of the map is at or above contour {contour:g} in this mask")
    return mask


def zone_mask(
    frame: GridFrame, xyz: np.ndarray, radius: float, *, source: object = "model", allow_empty: bool = False
) -> np.ndarray:
    """Voxels of ``frame`` whose centres lie within ``radius`` Å of any of the positions ``xyz``.

    Raises:
        MapValueError: the zone does not touch the grid (unless ``allow_empty``).
    """
    mask = within_radius(frame, xyz, radius)
    if not allow_empty and not mask.any():
        raise MapValueError(source, f"no voxel of the map lies within {radius:g} Å of the model")
    return mask
