"""CryoRes's loss: L_global + λ·L_rel + L_mask, over the three heads of :class:`~cryoray.models.cryores.CryoResModel`.

From the CryoRes paper (``shared/papers/cryores.txt``, "Training details"):

- ``L_global = (ŷ_b − y_b)²``: the squared error of the global resolution (Å), averaged over the batch;
- ``L_rel = 1/N Σ_i log10(|ŷ_i^r − y_i^r| + 1)``: the relative local resolution (local minus global,
  Å), a logarithm of the absolute error, so large errors count less than squared;
- ``L_mask = −1/N Σ_i [y_i log ŷ_i + (1 − y_i) log(1 − ŷ_i)]``: binary cross-entropy of the molecular mask;
- ``L_total = L_global + λ·L_rel + L_mask``.

The paper does not state λ (1 here by default) nor over which voxels ``L_rel`` runs. Its
relative labels come from ResMap, which estimates inside the molecule only, so by default the
mean runs over the voxels inside the label mask (``relative_inside_mask=False``: every voxel).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from cryoray.losses.combined import LossOutput
from cryoray.losses.log_abs_error import log_absolute_error
from cryoray.metrics.regression import check_same_shape

__all__ = ["CryoResLoss"]


class CryoResLoss(nn.Module):
    """``L_global + rel_weight · L_rel + L_mask`` for CryoRes's heads, reporting each term.

    Outputs, as :class:`~cryoray.models.cryores.CryoResModel` returns them: ``global``
    ``(B, 1, D, H, W)`` (one value per box, broadcast; its mean over the box is the box's value),
    ``relative`` ``(B, 1, D, H, W)`` in Å, ``mask`` logits ``(B, 2, D, H, W)`` (background,
    molecule; the softmax's molecule channel is the mask probability, so ``L_mask`` is the
    two-class cross-entropy). Targets: ``global`` ``(B,)`` or ``(B, 1)`` in Å, ``relative``
    ``(B, 1, D, H, W)`` in Å, ``mask`` ``(B, 1, D, H, W)`` or ``(B, D, H, W)`` with values 0 or 1.

    Args:
        rel_weight: λ, the factor of ``L_rel``. Defaults to 1.0.
        relative_inside_mask: average ``L_rel`` over the voxels of the target mask only (where
            half-map estimators give labels); False averages over every voxel. Defaults to True.

    Raises:
        ValueError: a negative or non-finite ``rel_weight``.

    Example:
        >>> loss = CryoResLoss(rel_weight=0.5)
        >>> outputs = {"global": torch.full((1, 1, 2, 2, 2), 5.0), "relative": torch.full((1, 1, 2, 2, 2), 9.0),
        ...            "mask": torch.zeros(1, 2, 2, 2, 2)}
        >>> targets = {"global": torch.tensor([3.0]), "relative": torch.zeros(1, 1, 2, 2, 2),
        ...            "mask": torch.ones(1, 1, 2, 2, 2)}
        >>> round(loss(outputs, targets).total.item(), 4)  # 2² + 0.5 · log10(10) + ln 2
        5.1931
    """

    def __init__(self, *, rel_weight: float = 1.0, relative_inside_mask: bool = True) -> None:
        super().__init__()
        if not (rel_weight >= 0 and rel_weight < float("inf")):
            raise ValueError(f"`rel_weight` must be a finite number ≥ 0, got {rel_weight}")
        self.rel_weight = float(rel_weight)
        self.relative_inside_mask = relative_inside_mask

    def forward(self, outputs: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> LossOutput:
        """The total and the three terms (``global``, ``relative``, ``mask``) of ``outputs`` against ``targets``.

        Raises:
            KeyError: a head or a target is missing.
            ValueError: shapes that do not pair up (the message shows both).
        """
        logits = outputs["mask"]
        if logits.ndim != 5 or logits.shape[1] != 2:
            raise ValueError(f"`mask` output must be (B, 2, D, H, W) logits, got {tuple(logits.shape)}")
        mask = targets["mask"]
        mask = mask[:, 0] if mask.ndim == 5 else mask
        check_same_shape(logits[:, 0], mask, ("mask output (without channels)", "mask target"))

        global_ = outputs["global"].flatten(1).mean(dim=1)
        global_target = targets["global"].reshape(-1).to(global_.dtype)
        check_same_shape(global_, global_target, ("global output (per box)", "global target"))

        inside = mask[:, None] > 0.5 if self.relative_inside_mask else None
        terms = {
            "global": (global_ - global_target).square().mean(),
            "relative": log_absolute_error(outputs["relative"], targets["relative"], inside),
            "mask": F.cross_entropy(logits, (mask > 0.5).long()),
        }
        total = terms["global"] + self.rel_weight * terms["relative"] + terms["mask"]
        return LossOutput(total=total, terms={name: value.detach() for name, value in terms.items()})
