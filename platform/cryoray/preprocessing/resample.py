"""Resampling maps onto other grids, natively (no external program).

Interpolation is a B-spline of ``order`` 0 (nearest), 1 (trilinear) or 3 (cubic, the default),
computed with ``scipy.ndimage``. For order 3 the spline coefficients are computed in place on
one float32 copy of the input; the output is then filled slab by slab along z, so peak memory
is about input + coefficients + output (~3.2x the input for 1.05 Å -> 1 Å), never a float64
copy or a coordinate array of the whole map.

Points of the new grid that fall outside the input's box (at most a fraction of a voxel for
:func:`resample`) take the nearest edge value, or ``fill`` when given.

The output grid is checked against a voxel limit (``max_voxels``, by default the read limit
2³⁰) before anything is allocated: a tiny map with huge voxels, or a tiny target voxel size,
would otherwise ask for terabytes.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from scipy import ndimage

from cryoray.errors import MapTooLargeError
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.io.mrc import MAX_VOXELS

__all__ = ["INTERPOLATION_ORDERS", "check_grid", "resample", "resample_onto", "resampled_frame"]

INTERPOLATION_ORDERS = (0, 1, 3)
_SLAB_VOXELS = 1 << 22  # output voxels per slab (16 MiB of float32)
_PROGRESS_VOXELS = 1 << 25  # log progress for outputs above 32 Mi voxels (~10 s or more)
log = logging.getLogger(__name__)


def _limit_error(source: object, what: str, voxels: str, max_voxels: int) -> MapTooLargeError:
    return MapTooLargeError(
        source, f"{what} would have {voxels} voxels, above the limit of {max_voxels} (max_voxels / --max-voxels)"
    )


def check_grid(
    frame: GridFrame, *, max_voxels: int = MAX_VOXELS, source: object = "map", what: str = "the grid"
) -> None:
    """Refuse a grid of more than ``max_voxels`` voxels (:class:`MapTooLargeError`), before allocating it."""
    if frame.n_voxels > max_voxels:
        shape = "x".join(str(n) for n in frame.shape_xyz)
        raise _limit_error(source, what, f"{shape} = {frame.n_voxels}", max_voxels)


def resampled_frame(
    frame: GridFrame, voxel_size: float, *, max_voxels: int = MAX_VOXELS, source: object = "map"
) -> GridFrame:
    """The grid :func:`resample` makes at ``voxel_size`` Å, checked against ``max_voxels``.

    The size is first estimated in floating point, so an absurd target (1000 Å voxels of the
    input, or a 1e-300 Å voxel size) is refused without building a frame whose voxel count
    would overflow.

    Raises:
        ValueError: ``voxel_size`` is not positive and finite.
        MapTooLargeError: the grid would have more than ``max_voxels`` voxels.
    """
    if not (math.isfinite(voxel_size) and voxel_size > 0):
        raise ValueError(f"`voxel_size` must be positive and finite, got {voxel_size}")
    what = f"the map resampled to {voxel_size:g} Å"
    span = (np.asarray(frame.shape_xyz, dtype=np.float64) - 1) * np.asarray(frame.voxel_size)
    estimate = math.prod(float(s) / voxel_size + 1 for s in span)  # the exact count, up to rounding
    if estimate > 2 * max_voxels:
        about = f"about {estimate:.3g}" if math.isfinite(estimate) else "uncountably many"
        raise _limit_error(source, what, about, max_voxels)
    target = frame.with_voxel_size(voxel_size)
    check_grid(target, max_voxels=max_voxels, source=source, what=what)
    return target


def resample_onto(
    density: DensityMap,
    frame: GridFrame,
    *,
    order: int = 3,
    fill: float | None = None,
    max_voxels: int = MAX_VOXELS,
    source: object = "map",
) -> DensityMap:
    """Sample ``density`` on the voxel centres of ``frame`` (any spacing, origin and shape).

    Args:
        density: the map to sample.
        frame: the target grid.
        order: spline order, 0, 1 or 3.
        fill: value outside the input's box; None extends the nearest edge voxel.
        max_voxels: refuse a target grid with more voxels (before allocating it).
        source: names the map in errors.

    Raises:
        MapTooLargeError: ``frame`` has more than ``max_voxels`` voxels.
    """
    if order not in INTERPOLATION_ORDERS:
        raise ValueError(f"`order` must be one of {INTERPOLATION_ORDERS}, got {order}")
    check_grid(frame, max_voxels=max_voxels, source=source, what="the target grid")
    src = density.frame
    if src.same_as(frame, atol=1e-6):
        return DensityMap(data=density.data, frame=frame, labels=density.labels)
    # Output voxel o (z, y, x) lies at input index offset + o * scale along each axis.
    scale = (np.asarray(frame.voxel_size) / np.asarray(src.voxel_size))[::-1]
    offset = ((np.asarray(frame.origin) - np.asarray(src.origin)) / np.asarray(src.voxel_size))[::-1]
    mode, cval = ("nearest", 0.0) if fill is None else ("constant", float(fill))
    coeffs = density.data
    if order > 1:
        coeffs = np.array(density.data, dtype=np.float32, copy=True)
        for axis in range(3):
            ndimage.spline_filter1d(coeffs, order, axis=axis, output=coeffs, mode=mode)
    out = np.empty(frame.shape, dtype=np.float32)
    nz = frame.shape[0]
    step = max(1, _SLAB_VOXELS // (frame.shape[1] * frame.shape[2]))
    n_slabs = -(-nz // step)
    report_every = max(1, n_slabs // 4) if frame.n_voxels >= _PROGRESS_VOXELS else 0
    for i, z0 in enumerate(range(0, nz, step)):
        if report_every and i and i % report_every == 0:
            log.info("resampling: %d%% of %d sections", round(100 * i / n_slabs), nz)
        z1 = min(nz, z0 + step)
        ndimage.affine_transform(
            coeffs,
            scale,
            offset=offset + np.array([z0 * scale[0], 0.0, 0.0]),
            output_shape=(z1 - z0, *frame.shape[1:]),
            output=out[z0:z1],
            order=order,
            mode=mode,
            cval=cval,
            prefilter=False,
        )
    return DensityMap(data=out, frame=frame, labels=density.labels)


def resample(
    density: DensityMap,
    voxel_size: float = 1.0,
    *,
    order: int = 3,
    max_voxels: int = MAX_VOXELS,
    source: object = "map",
) -> DensityMap:
    """Resample to a new voxel size, keeping voxel 0 where it is and covering the whole box.

    The new grid has ``ceil((n - 1) * old / new) + 1`` voxels per axis, so it reaches at least
    to the last input voxel centre; :func:`resample_onto` with the input's frame goes back.

    Raises:
        MapTooLargeError: the new grid would have more than ``max_voxels`` voxels.
    """
    frame = resampled_frame(density.frame, voxel_size, max_voxels=max_voxels, source=source)
    return resample_onto(density, frame, order=order, max_voxels=max_voxels, source=source)
