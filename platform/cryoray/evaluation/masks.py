"""A user's mask for FSC: put on the map's grid, values checked, a hard edge softened."""

from __future__ import annotations

import numpy as np

from cryoray.errors import MapValueError
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.metrics.grids import check_weights
from cryoray.metrics.shell_correlation import soft_edge_mask
from cryoray.preprocessing.resample import resample_onto

__all__ = ["SOFT_EDGE", "fsc_mask"]

#: Width in Å of the raised-cosine edge given to a binary (0/1) mask.
SOFT_EDGE = 6.0


def fsc_mask(mask_map: DensityMap, frame: GridFrame, *, source: object = "mask") -> np.ndarray:
    """Weights in [0, 1] on ``frame``'s voxels from ``mask_map``.

    A mask on another grid (a different box, or a voxel size written with other rounding) is
    sampled trilinearly onto ``frame`` and counts as 0 outside its own box. A binary mask (only
    0 and 1) gets a :data:`SOFT_EDGE` Å raised-cosine edge, since a hard edge adds correlation at
    every frequency; a soft mask (as RELION writes them) is used as it is.

    Raises:
        MapValueError: the mask's values are outside [0, 1], or it covers nothing of the map.
    """
    values = mask_map.data
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
        raise MapValueError(source, "mask values must be within [0, 1] (a mask map, not a density map)")
    binary = bool(np.all((values == 0) | (values == 1)))
    if mask_map.frame.same_as(frame):
        data = values
    else:
        data = resample_onto(mask_map, frame, order=1, fill=0.0, source=source).data
    if not data.any():
        raise MapValueError(source, "the mask covers no voxel of the map (is it the mask of another map?)")
    if binary:
        return soft_edge_mask(data >= 0.5, frame, SOFT_EDGE)
    return check_weights(np.clip(data, 0.0, 1.0), frame, source=str(source))
