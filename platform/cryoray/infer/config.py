"""Settings of whole-map inference (the ``infer`` section of a config, or CLI flags).

Settings left unset (None) take the model bundle's value, else cryoray's default; what they
mean for a given set of models, and where each value came from, is decided in
:class:`cryoray.infer.recipe.Recipe`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from cryoray.config import Section
from cryoray.preprocessing.tiling import PRESETS, Tiling, get_tiling

__all__ = ["InferConfig", "default_tiling"]


def default_tiling(model_box: int) -> Tiling:
    """The tiling of a network whose bundle names none: 32 → ``c2s``, 48 → ``cryoten-eval``,
    any other box → custom with stride ¾ of the box."""
    if model_box == 32:
        return PRESETS["c2s"]
    if model_box == 48:
        return PRESETS["cryoten-eval"]
    return get_tiling("custom", box=model_box, stride=max(1, model_box * 3 // 4))


class InferConfig(Section):
    """How a map is cut, predicted and stitched back.

    Every setting that may be None is taken, when None, from the model's bundle (its
    ``preprocessing``), else from cryoray's default; a value set here overrides the bundle's.

    Args:
        tiling: preset (``c2s``, ``cryoten-train``, ``cryoten-eval``) or ``custom`` with
            ``box``/``stride`` (and optional ``core``); None: the bundle's tiling, with any of
            ``box``/``stride``/``core`` set here replacing its own; without one, by the model's
            box (:func:`default_tiling`).
        blend: weights of overlapping boxes: ``constant`` (plain mean) or ``gaussian`` (centre
            voxels count more, σ = ``sigma_scale`` × the kept edge); always a true weighted mean.
            None: the bundle's, else constant.
        batch_size: boxes per forward pass.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        precision: ``auto`` (bf16 autocast on CUDA, fp32 on CPU), ``bf16`` or ``fp32``.
        voxel_size: grid the network sees, in Å; None: the bundle's, else 1.0 (every published tool).
        order: interpolation onto that grid (3 cubic; the way back uses 3 for values, 1 for
            probabilities so they stay in [0, 1] and keep summing to 1).
        percentile: normalisation percentile of positive voxels; None: the bundle's, else 99.999
            (CryoTEN/EMReady) for models with only regression heads and 95 (Cryo2Struct) for others.
    """

    tiling: str | None = None
    box: PositiveInt | None = None
    stride: PositiveInt | None = None
    core: PositiveInt | None = None
    blend: Literal["constant", "gaussian"] | None = None
    sigma_scale: float = Field(0.125, gt=0.0, le=10.0)
    batch_size: PositiveInt = 4
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    voxel_size: PositiveFloat | None = None
    order: Literal[0, 1, 3] = 3
    percentile: float | None = Field(None, gt=0.0, le=100.0)

    @model_validator(mode="after")
    def _check(self) -> InferConfig:
        if self.tiling is not None and self.tiling != "custom" and self.tiling not in PRESETS:
            raise ValueError(f"tiling must be one of {sorted(PRESETS)}, 'custom' or null (the model's)")
        if self.tiling is not None:
            self.tiling_for(self.box or 1)  # custom sizes are checked by Tiling itself
        return self

    def tiling_for(self, model_box: int, base: Tiling | None = None) -> Tiling:
        """The tiling to use with a network whose box is ``model_box`` and whose bundle says ``base``.

        ``tiling`` set: that preset, or custom ``box``/``stride``/``core``. Else ``base`` (or
        :func:`default_tiling`), as a custom tiling when ``box``, ``stride`` or ``core`` are set.
        """
        if self.tiling is not None:
            return get_tiling(self.tiling, box=self.box, stride=self.stride, core=self.core)
        base = base or default_tiling(model_box)
        changes = {key: getattr(self, key) for key in ("box", "stride", "core") if getattr(self, key) is not None}
        if not changes:
            return base
        sizes = {"box": base.box, "stride": base.stride, "core": base.core, **changes}
        return Tiling("custom", **sizes, end_aligned=base.end_aligned)
