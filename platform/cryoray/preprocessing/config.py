"""Settings of map preparation (the ``prepare`` section of a config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from cryoray.config import Section
from cryoray.io.mrc import MAX_VOXELS

__all__ = ["MAX_MASK_RADIUS", "MaskConfig", "PrepareConfig"]

#: Largest zone-mask radius in Å: a zone of 20 Å around every atom already covers a whole
#: domain; larger radii only cost time (the stencil grows with radius³).
MAX_MASK_RADIUS = 20.0


class MaskConfig(Section):
    """A mask to apply before normalising: a mask map with a contour, or a zone around a model.

    Args:
        map: mask map path/URL (any grid; it is sampled onto the map's grid).
        contour: voxels at or above this mask value are inside.
        model: atomic model path/URL whose atoms define the zone.
        radius: zone radius in Å around the model's atoms, at most ``MAX_MASK_RADIUS`` (20 Å).
    """

    map: str | None = None
    contour: float | None = Field(None, allow_inf_nan=False)
    model: str | None = None
    radius: float = Field(3.0, gt=0, le=MAX_MASK_RADIUS)

    @model_validator(mode="after")
    def _one_kind(self) -> MaskConfig:
        if (self.map is None) == (self.model is None):
            raise ValueError("give either `map` (with `contour`) or `model` (with `radius`)")
        if self.map is not None and self.contour is None:
            raise ValueError("a mask `map` needs a `contour` level")
        return self


class PrepareConfig(Section):
    """How to prepare a map for the networks.

    Args:
        voxel_size: target voxel size in Å, finite (1.0 as Cryo2Struct, EMReady, struc2mapGAN).
        order: interpolation order, 0 nearest, 1 trilinear, 3 cubic B-spline.
        normalize: divide by the percentile and clip to [0, 1].
        percentile: percentile of the positive voxels that becomes 1.0 (95 Cryo2Struct, 99.999 CryoTEN).
        mask: optional mask; density outside it is set to 0 before normalising.
        max_voxels: refuse input maps and resampled grids with more voxels, before allocating
            them (default the read limit, 2³⁰ voxels = 4 GiB as float32).
    """

    voxel_size: float = Field(1.0, gt=0, allow_inf_nan=False)
    order: Literal[0, 1, 3] = 3
    normalize: bool = True
    percentile: float = Field(95.0, gt=0, le=100)
    mask: MaskConfig | None = None
    max_voxels: PositiveInt = MAX_VOXELS
