"""Cross-entropy over labelled voxels only: one class index (e.g. "none") marks voxels without a label."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LabelledCrossEntropyLoss"]


class LabelledCrossEntropyLoss(nn.Module):
    """Mean cross-entropy over voxels whose class is not ``ignore_index``.

    The ``amino_acid`` label holds a residue type only at Cα voxels and "none" (0) everywhere
    else; model building reads the amino-acid head only at Cα candidates, so it should learn
    residue types there and nothing about the background (which a Cα head already knows). A
    batch without any labelled voxel gives 0, still connected to ``input``'s graph, so the step
    neither fails nor moves the weights (torch's own ``ignore_index`` gives NaN there).

    Example:
        >>> logits = torch.zeros(1, 3, 2)  # (B, C, N): uniform over 3 classes
        >>> round(LabelledCrossEntropyLoss(0)(logits, torch.tensor([[0, 2]])).item(), 4)  # ln 3, voxel 0 ignored
        1.0986
    """

    def __init__(self, ignore_index: int) -> None:
        super().__init__()
        self.ignore_index = int(ignore_index)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of logits ``input`` ``(B, C, ...)`` against class indices ``target`` ``(B, ...)``."""
        labelled = target != self.ignore_index
        nll = F.cross_entropy(input, target.masked_fill(~labelled, 0), reduction="none")
        return (nll * labelled).sum() / labelled.sum().clamp_min(1)
