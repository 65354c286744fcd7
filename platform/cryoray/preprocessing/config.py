"""Settings of map preparation (the ``prepare`` section of a config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, model_validator

from cryoray.config import Section

__all__ = ["MaskConfig", "PrepareConfig"]


class MaskConfig(Section):
    """A mask to apply before normalising: a mask map with a contour, or a zone around a model.

    Args:
        map: mask map path/URL (any grid; it is sampled onto the map's grid).
        contour: voxels at or above this mask value are inside.
        model: atomic model path/URL whose atoms define the zone.
        radius: zone radius in Å around the model's atoms.
    """

    map: str | None = None
    contour: float | None = None
    model: str | None = None
    radius: PositiveFloat = 3.0

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
        voxel_size: target voxel size in Å (1.0 as Cryo2Struct, EMReady, struc2mapGAN).
        order: interpolation order, 0 nearest, 1 trilinear, 3 cubic B-spline.
        normalize: divide by the percentile and clip to [0, 1].
        percentile: percentile of the positive voxels that becomes 1.0 (95 Cryo2Struct, 99.999 CryoTEN).
        mask: optional mask; density outside it is set to 0 before normalising.
    """

    voxel_size: PositiveFloat = 1.0
    order: Literal[0, 1, 3] = 3
    normalize: bool = True
    percentile: float = Field(95.0, gt=0, le=100)
    mask: MaskConfig | None = None
