"""CryoRes's relative-resolution loss: the mean of ``log10(|error| + 1)``, as a function and as a loss term."""

from __future__ import annotations

import torch
from torch import nn

from cryoray.metrics.regression import check_same_shape

__all__ = ["LogAbsoluteErrorLoss", "log_absolute_error"]


def log_absolute_error(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """CryoRes's ``L_rel``: the mean of ``log10(|input − target| + 1)``, over ``mask``'s voxels if given.

    With a mask and no voxel in it the loss is 0, still connected to ``input``'s graph (zero
    gradient), so a training step on a box without molecule neither fails nor moves the weights.

    Args:
        input: predicted values, any shape.
        target: target values, the shape of ``input``.
        mask: boolean tensor of the shape of ``input``; None for every voxel.

    Raises:
        ValueError: the shapes differ (the message shows both).

    Example:
        >>> log_absolute_error(torch.tensor([9.0, 0.0]), torch.tensor([0.0, 0.0])).item()  # (1 + 0) / 2
        0.5
    """
    check_same_shape(input, target)
    error = torch.log10((input - target).abs() + 1)
    if mask is None:
        return error.mean()
    check_same_shape(input, mask, ("input", "mask"))
    return (error * mask).sum() / mask.sum().clamp_min(1)


class LogAbsoluteErrorLoss(nn.Module):
    """:func:`log_absolute_error` over every voxel, as a loss term (kind ``log_abs_error``).

    In a training config the three CryoRes heads are three targets, so this term sees no mask:
    it averages over all voxels, the paper's ``1/N Σ`` taken literally (relative labels are 0
    outside the mask).
    """

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean ``log10(|input − target| + 1)``; shapes must match."""
        return log_absolute_error(input, target)
