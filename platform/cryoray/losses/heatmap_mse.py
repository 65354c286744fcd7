"""MSE for heatmaps: voxels near a peak of the target weigh more, so the rare peaks are not averaged away."""

from __future__ import annotations

import torch
from torch import nn

from cryoray.metrics.regression import check_same_shape

__all__ = ["HeatmapMSELoss"]


class HeatmapMSELoss(nn.Module):
    """``mean((1 + peak_weight · target) · (input − target)²)`` over all voxels of the batch.

    A Cα heatmap is ~0 on all but a few per cent of the voxels; with plain MSE the network
    scores well by predicting 0 everywhere. Weighting each voxel by its target value keeps the
    background's pull (weight 1) but makes missing a peak cost ``1 + peak_weight`` times more,
    the role class weights play for cross-entropy, without their "predict atoms everywhere"
    collapse (the background is never down-weighted).

    Example:
        >>> HeatmapMSELoss(peak_weight=3.0)(torch.zeros(2), torch.tensor([0.0, 1.0])).item()  # (0 + 4·1) / 2
        2.0
    """

    def __init__(self, peak_weight: float = 5.0) -> None:
        super().__init__()
        if not peak_weight >= 0:
            raise ValueError(f"`peak_weight` must be a number >= 0, got {peak_weight}")
        self.peak_weight = float(peak_weight)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Weighted MSE of ``input`` against ``target`` (same shapes, e.g. ``(B, 1, D, H, W)``)."""
        check_same_shape(input, target)
        return ((1 + self.peak_weight * target) * (input - target).square()).mean()
