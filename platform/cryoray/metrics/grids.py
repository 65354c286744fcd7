"""Checks that two maps (or a map and a mask) lie on one grid before they are compared voxel by voxel."""

from __future__ import annotations

import numpy as np

from cryoray.errors import GridMismatchError, MapValueError
from cryoray.io.density_map import DensityMap, GridFrame

__all__ = ["check_same_frame", "check_weights"]


def check_same_frame(reference: DensityMap, other: DensityMap, *, source: str = "second map") -> None:
    """Raise unless ``other`` lies on exactly the voxels of ``reference``.

    Comparing voxels of two different grids would silently compare different places in space.

    Raises:
        GridMismatchError: the shapes, voxel sizes or origins differ (the message shows both frames).
    """
    if not reference.frame.same_as(other.frame):
        a, b = reference.frame.to_dict(), other.frame.to_dict()
        raise GridMismatchError(source, f"grid {b} differs from the first map's grid {a}; put it on that grid first")


def check_weights(weights: np.ndarray | DensityMap, frame: GridFrame, *, source: str = "mask") -> np.ndarray:
    """``weights`` as a float32 array on ``frame``'s voxels, checked to be finite and within [0, 1].

    A boolean mask is accepted (True = 1); a DensityMap must lie on ``frame``.

    Raises:
        GridMismatchError: wrong shape or grid.
        MapValueError: values outside [0, 1] or not finite, or all zero.
    """
    if isinstance(weights, DensityMap):
        if not weights.frame.same_as(frame):
            grids = f"mask grid {weights.frame.to_dict()} differs from the map grid {frame.to_dict()}"
            raise GridMismatchError(source, grids)
        weights = weights.data
    weights = np.asarray(weights)
    if weights.shape != frame.shape:
        shapes = f"mask shape {weights.shape} (z, y, x) differs from the map shape {frame.shape}"
        raise GridMismatchError(source, shapes)
    weights = weights.astype(np.float32, copy=False)
    if not np.isfinite(weights).all() or weights.min() < 0 or weights.max() > 1:
        raise MapValueError(source, "mask values must be finite and within [0, 1]")
    if not weights.any():
        raise MapValueError(source, "mask is empty (all zero)")
    return weights
