"""Class-weighted cross-entropy for voxel classification, with Cryo2Struct's weights."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cryoray.metrics.classification import class_targets

__all__ = ["WeightedCrossEntropyLoss", "class_weights"]


def class_weights(counts: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Cryo2Struct's class weights ``w_c = 1 − n_c / Σ_k n_k`` from voxel counts per class.

    A class absent from the training data (``n_c = 0``) gets weight 1, the largest possible;
    a class holding every voxel gets weight 0.

    Args:
        counts: voxel count of each class, in class-index order (at least two classes).

    Returns:
        float32 tensor ``(C,)``.

    Raises:
        ValueError: fewer than two counts, a negative count, or all counts 0.

    Example:
        >>> class_weights([30, 10]).tolist()
        [0.25, 0.75]
    """
    n = torch.as_tensor(counts, dtype=torch.float64)
    if n.ndim != 1 or n.numel() < 2:
        raise ValueError(f"class counts must be a list of at least two numbers, got shape {tuple(n.shape)}")
    if bool((n < 0).any()):
        raise ValueError(f"class counts must not be negative, got {n.tolist()}")
    total = n.sum()
    if total == 0:
        raise ValueError("class counts are all 0: no voxels to weight the classes by")
    return (1 - n / total).float()


class WeightedCrossEntropyLoss(nn.Module):
    """Cross-entropy over voxel logits, each voxel weighted by the weight of its true class.

    The reduction is torch's weighted mean: ``Σ_i w_{y_i} · nll_i / Σ_i w_{y_i}`` over all voxels
    of the batch (a batch whose voxels all have weight 0 gives NaN, as in torch).

    Args:
        weights: one non-negative weight per class, e.g. from :func:`class_weights`.

    Raises:
        ValueError: ``weights`` is not a 1-D list of finite, non-negative numbers with at
            least one positive.

    Example:
        >>> loss = WeightedCrossEntropyLoss(class_weights([90, 10]))
        >>> round(loss(torch.zeros(2, 2, 4, 4, 4), torch.ones(2, 4, 4, 4, dtype=torch.long)).item(), 4)  # ln 2
        0.6931
    """

    def __init__(self, weights: Sequence[float] | torch.Tensor) -> None:
        super().__init__()
        w = torch.as_tensor(weights, dtype=torch.float32)
        if w.ndim != 1 or w.numel() < 2:
            raise ValueError(f"`weights` must be a list of at least two numbers, got shape {tuple(w.shape)}")
        if not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or not bool((w > 0).any()):
            raise ValueError(f"`weights` must be finite, non-negative and not all 0, got {w.tolist()}")
        self.register_buffer("weights", w)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Weighted cross-entropy of ``input`` against ``target``.

        Args:
            input: logits ``(B, C, D, H, W)`` (any number of spatial axes).
            target: class indices ``(B, D, H, W)`` or ``(B, 1, D, H, W)``.

        Raises:
            TypeError: ``target`` is not an integer tensor.
            ValueError: the shapes do not pair up, or ``C`` differs from the number of weights.
        """
        target = class_targets(input, target)
        if input.shape[1] != self.weights.numel():
            raise ValueError(
                f"input {tuple(input.shape)} has {input.shape[1]} classes, but there are {self.weights.numel()} weights"
            )
        return F.cross_entropy(input, target, weight=self.weights)
