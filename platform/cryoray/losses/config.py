"""Loss settings: a weighted sum of named terms, validated like every other config section.

Example YAML (the ``loss`` section of a training config)::

    loss:
      terms:
        - {kind: masked_mse, weight: 1.0}
        - {kind: ssim, weight: 0.1, data_range: 1.0}
"""

from __future__ import annotations

from typing import Literal

import pydantic

from cryoray.config import Section

__all__ = ["CLASSIFICATION_KINDS", "LossConfig", "LossTermConfig", "TermKind"]

TermKind = Literal[
    "weighted_ce",
    "ce",
    "labelled_ce",
    "masked_mse",
    "mse",
    "heatmap_mse",
    "smooth_l1",
    "ssim",
    "log_abs_error",
    "correlation",
]

#: Kinds that score logits against class indices; every other kind compares two maps.
CLASSIFICATION_KINDS = frozenset({"weighted_ce", "ce", "labelled_ce"})

#: Settings that belong to one kind only.
_OWN_SETTINGS = {"data_range": "ssim", "beta": "smooth_l1", "peak_weight": "heatmap_mse", "ignore_index": "labelled_ce"}


class LossTermConfig(Section):
    """One term of the sum.

    Args:
        kind: ``weighted_ce`` (Cryo2Struct's class weights from the training set's class
            counts), ``ce``, ``labelled_ce`` (cross-entropy over voxels whose class is not
            ``ignore_index``), ``masked_mse`` (CryoTEN), ``mse``, ``heatmap_mse`` (MSE with
            weight ``1 + peak_weight · target`` per voxel), ``smooth_l1``, ``ssim`` (3D, as
            ``1 − SSIM``), ``log_abs_error`` (CryoRes's ``L_rel``: mean ``log10(|error| + 1)``) or
            ``correlation`` (``1 −`` Pearson correlation per box: blind to the maps' scales).
        weight: factor of the term in the sum; 0 keeps the term for logging only.
        data_range: ``ssim`` only: the range of the map values; None means 1.0 (maps
            normalised to [0, 1]).
        beta: ``smooth_l1`` only: where the loss turns from quadratic to linear; None means 1.0.
        peak_weight: ``heatmap_mse`` only: extra weight of a voxel per unit of target; None means 5.
        ignore_index: ``labelled_ce`` only: the class that marks unlabelled voxels; None means 0.
    """

    kind: TermKind
    weight: float = pydantic.Field(default=1.0, ge=0, allow_inf_nan=False)
    data_range: float | None = pydantic.Field(default=None, gt=0, allow_inf_nan=False)
    beta: float | None = pydantic.Field(default=None, ge=0, allow_inf_nan=False)
    peak_weight: float | None = pydantic.Field(default=None, ge=0, allow_inf_nan=False)
    ignore_index: int | None = pydantic.Field(default=None, ge=0)

    @pydantic.model_validator(mode="after")
    def _settings_match_kind(self) -> LossTermConfig:
        for setting, kind in _OWN_SETTINGS.items():
            if getattr(self, setting) is not None and self.kind != kind:
                raise ValueError(f"{setting} applies only to kind '{kind}', not '{self.kind}'")
        return self


class LossConfig(Section):
    """The loss: a weighted sum of terms, each kind at most once (its name in the logs).

    Args:
        terms: at least one term, all classification kinds (``weighted_ce``, ``ce``) or all
            regression kinds (the others).
    """

    terms: list[LossTermConfig] = pydantic.Field(min_length=1)

    @pydantic.model_validator(mode="after")
    def _one_task_each_kind_once(self) -> LossConfig:
        kinds = [term.kind for term in self.terms]
        repeated = sorted({kind for kind in kinds if kinds.count(kind) > 1})
        if repeated:
            raise ValueError(f"each kind may appear once (it names the term in the logs), repeated: {repeated}")
        classification = [kind for kind in kinds if kind in CLASSIFICATION_KINDS]
        regression = [kind for kind in kinds if kind not in CLASSIFICATION_KINDS]
        if classification and regression:
            raise ValueError(
                f"classification terms {classification} and regression terms {regression} cannot be summed: "
                "they take different targets (class indices vs. maps)"
            )
        return self

    @property
    def task(self) -> Literal["classification", "regression"]:
        """``classification`` when the terms score class logits, else ``regression``."""
        return "classification" if self.terms[0].kind in CLASSIFICATION_KINDS else "regression"
