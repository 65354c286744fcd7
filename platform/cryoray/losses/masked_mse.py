"""CryoTEN's masked MSE: mean squared error over voxels where prediction or target is non-zero."""

from __future__ import annotations

import torch
from torch import nn

from cryoray.metrics.regression import check_same_shape

__all__ = ["MaskedMSELoss"]


class MaskedMSELoss(nn.Module):
    """MSE over the voxels where prediction and target are not both zero (CryoTEN).

    The mean runs over the kept voxels of the whole batch. When no voxel is kept (both are
    all zero) the loss is 0, still connected to ``input``'s graph (with zero gradient), so a
    training step on an empty box neither fails nor moves the weights.

    Example:
        >>> MaskedMSELoss()(torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.0, 2.0, 1.0])).item()  # 4 / 2
        2.0
    """

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Masked MSE of ``input`` against ``target``.

        Args:
            input: predicted values, e.g. ``(B, 1, D, H, W)``.
            target: target values, the shape of ``input``.

        Raises:
            ValueError: the shapes differ (the message shows both).
        """
        check_same_shape(input, target)
        kept = (input != 0) | (target != 0)
        # Voxels where both are 0 add 0 to the sum (and 0 to the gradient), so only the count needs the mask.
        return (input - target).square().sum() / kept.sum().clamp_min(1)
