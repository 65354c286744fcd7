"""1 − Pearson correlation per box: a loss as blind to a map's scale as CC_mask and the Q-score are."""

from __future__ import annotations

import torch
from torch import nn

from cryoray.metrics.regression import check_same_shape

__all__ = ["CorrelationLoss"]


class CorrelationLoss(nn.Module):
    """Mean over boxes of ``1 − cc(input, target)``, cc the Pearson correlation over the whole box.

    A simulated target's absolute scale depends on the model (atom count, normalisation) and a
    percentile-normalised input's on the map, so their ratio varies from map to map (1.7–2.4 on
    three real maps): an MSE spends itself on a scale the network cannot know, while the
    correlation, like the metrics the enhanced map is judged by, ignores it. Over the whole box,
    so density put where the target is empty still costs. Boxes whose target is constant (no atom
    near) have no correlation and are left out; with none left the loss is 0, still connected to
    ``input``'s graph. Written here because MONAI's normalised cross-correlation is windowed (for
    registration), not one value per box.

    Example:
        >>> x = torch.arange(8.0).reshape(1, 1, 2, 2, 2)
        >>> round(CorrelationLoss()(3 * x + 1, x).item(), 6)  # a scaled, shifted copy: cc = 1
        0.0
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``1 − cc`` of ``input`` against ``target``, ``(B, ...)`` each, averaged over the boxes.

        Raises:
            ValueError: the shapes differ (the message shows both).
        """
        check_same_shape(input, target)
        x = input.flatten(1) - input.flatten(1).mean(dim=1, keepdim=True)
        y = target.flatten(1) - target.flatten(1).mean(dim=1, keepdim=True)
        y_norm = y.square().sum(dim=1)
        cc = (x * y).sum(dim=1) / (x.square().sum(dim=1) * y_norm + self.eps).sqrt()
        kept = (y_norm > self.eps).to(cc.dtype)
        return ((1.0 - cc) * kept).sum() / kept.sum().clamp_min(1.0)
