"""Putting predictions back onto the input's own grid, so they overlay it exactly.

Prediction happens on the prepared grid (1 Å, same origin as the input: voxel 0 stays where it
was). Going back samples that grid at the input's voxel centres (:func:`resample_onto`), so the
result has the input's shape, voxel size and origin, with arrays in the same (z, y, x) order.
Values go back with cubic B-splines by default; probabilities go back trilinearly (order 1):
a convex combination of neighbours, so they stay in [0, 1] and classes keep summing to 1.
"""

from __future__ import annotations

from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.preprocessing.resample import resample_onto

__all__ = ["to_source_frame"]


def to_source_frame(prediction: DensityMap, frame: GridFrame, *, order: int = 3) -> DensityMap:
    """``prediction`` sampled on ``frame`` (the input map's frame); labels are kept."""
    return resample_onto(prediction, frame, order=order)
