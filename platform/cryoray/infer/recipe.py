"""How maps are prepared, cut and blended for a set of models: decided once, from specs and settings.

Every front end builds one :class:`Recipe` (``Recipe.for_models(specs, infer_config)``) and takes
from it the preparation (grid, interpolation, normalisation percentile, mask), the tiling (by
the models' box) and the blend weights, so the CLI, the batch pipeline and Serve cut and
normalise a map the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cryoray.errors import ConfigError
from cryoray.infer.config import InferConfig
from cryoray.infer.spec import ModelSpec
from cryoray.infer.stitching import Sink, Stitcher, TilePlan, blend_weights
from cryoray.preprocessing.config import MaskConfig, PrepareConfig
from cryoray.preprocessing.tiling import Tiling

__all__ = ["Recipe", "tiling_for"]

#: normalisation percentiles when the config sets none: models with only regression heads
#: (CryoTEN, EMReady) and the others (Cryo2Struct)
REGRESSION_PERCENTILE = 99.999
CLASSIFICATION_PERCENTILE = 95.0


def tiling_for(specs: Sequence[ModelSpec], config: InferConfig) -> Tiling:
    """The tiling for these models (one box size for all of them).

    Raises:
        ConfigError: models with different boxes, or a tiling box the network cannot take.
    """
    boxes = {s.box for s in specs}
    if len(boxes) != 1:
        raise ConfigError("models", f"models take different boxes {sorted(boxes)}; use models with one box size")
    box = boxes.pop()
    try:
        tiling = config.tiling_for(box)
    except ValueError as exc:
        raise ConfigError("infer.tiling", str(exc)) from exc
    if tiling.box != box:
        raise ConfigError("infer.tiling", f"tiling '{tiling.name}' cuts {tiling.box}³ boxes but the model takes {box}³")
    return tiling


@dataclass(frozen=True)
class Recipe:
    """Preparation, tiling and blending for one set of models.

    Args:
        prepare: how the input map is prepared (1 Å grid, normalisation, mask).
        tiling: how the prepared map is cut.
        weights: blend weights over a box's kept region.
    """

    prepare: PrepareConfig
    tiling: Tiling
    weights: np.ndarray

    @classmethod
    def for_models(cls, specs: Sequence[ModelSpec], config: InferConfig, *, mask: MaskConfig | None = None) -> Recipe:
        """The recipe for ``specs`` under ``config``; ``mask`` zeroes the input outside it.

        The normalisation percentile is ``config.percentile``, else 99.999 when every model has
        only regression heads and 95 otherwise.
        """
        tiling = tiling_for(specs, config)
        percentile = config.percentile
        if percentile is None:
            regression = all(s.regression_only for s in specs)
            percentile = REGRESSION_PERCENTILE if regression else CLASSIFICATION_PERCENTILE
        prepare = PrepareConfig(voxel_size=config.voxel_size, order=config.order, percentile=percentile, mask=mask)
        return cls(prepare, tiling, blend_weights(tiling, config.blend, sigma_scale=config.sigma_scale))

    def plan(self, shape: Sequence[int]) -> TilePlan:
        """The boxes of a prepared map of ``shape`` (z, y, x)."""
        return TilePlan.for_shape(shape, self.tiling)

    def stitcher(self, plan: TilePlan, channels: int, sink: Sink, *, passes: int = 1) -> Stitcher:
        """A stitcher of ``plan`` with this recipe's blend weights."""
        return Stitcher(plan, channels, weights=self.weights, sink=sink, passes=passes)
