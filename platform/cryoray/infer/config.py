"""Settings of whole-map inference (the ``infer`` section of a config, or CLI flags).

What they mean for a given set of models (tiling by box, percentile by head kinds) is decided
in :class:`cryoray.infer.recipe.Recipe`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from cryoray.config import Section
from cryoray.preprocessing.tiling import PRESETS, Tiling, get_tiling

__all__ = ["InferConfig"]


class InferConfig(Section):
    """How a map is cut, predicted and stitched back.

    Args:
        tiling: preset (``c2s``, ``cryoten-train``, ``cryoten-eval``) or ``custom`` with
            ``box``/``stride`` (and optional ``core``); None picks by the model's box: 32 → ``c2s``,
            48 → ``cryoten-eval``, any other → custom with stride ¾ of the box.
        blend: weights of overlapping boxes: ``constant`` (plain mean) or ``gaussian`` (centre
            voxels count more, σ = ``sigma_scale`` × the kept edge); always a true weighted mean.
        batch_size: boxes per forward pass.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        precision: ``auto`` (bf16 autocast on CUDA, fp32 on CPU), ``bf16`` or ``fp32``.
        voxel_size: grid the network sees, in Å (1.0 for every published tool).
        order: interpolation onto that grid (3 cubic; the way back uses 3 for values, 1 for
            probabilities so they stay in [0, 1] and keep summing to 1).
        percentile: normalisation percentile of positive voxels; None = 99.999 (CryoTEN/EMReady)
            for models with only regression heads, else 95 (Cryo2Struct).
    """

    tiling: str | None = None
    box: PositiveInt | None = None
    stride: PositiveInt | None = None
    core: PositiveInt | None = None
    blend: Literal["constant", "gaussian"] = "constant"
    sigma_scale: float = Field(0.125, gt=0.0, le=10.0)
    batch_size: PositiveInt = 4
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    voxel_size: PositiveFloat = 1.0
    order: Literal[0, 1, 3] = 3
    percentile: float | None = Field(None, gt=0.0, le=100.0)

    @model_validator(mode="after")
    def _check(self) -> InferConfig:
        if self.tiling is not None and self.tiling != "custom" and self.tiling not in PRESETS:
            raise ValueError(f"tiling must be one of {sorted(PRESETS)}, 'custom' or null (by the model's box)")
        if self.tiling is not None:
            self.tiling_for(self.box or 1)  # custom sizes are checked by Tiling itself
        return self

    def tiling_for(self, model_box: int) -> Tiling:
        """The tiling to use with a network whose box is ``model_box``."""
        if self.tiling is None:
            if model_box == 32:
                return PRESETS["c2s"]
            if model_box == 48:
                return PRESETS["cryoten-eval"]
            return get_tiling("custom", box=model_box, stride=max(1, model_box * 3 // 4))
        return get_tiling(self.tiling, box=self.box, stride=self.stride, core=self.core)
