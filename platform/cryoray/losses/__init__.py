"""Training losses: class-weighted cross-entropy, masked MSE, correlation, weighted sums built from config, CryoRes's.

SSIM is MONAI's :class:`monai.losses.SSIMLoss` (3D) and SmoothL1 torch's; :func:`build_loss`
puts any of them into one :class:`CombinedLoss`.
"""

from __future__ import annotations

from cryoray.losses.combined import CombinedLoss, LossOutput, build_loss
from cryoray.losses.config import LossConfig, LossTermConfig
from cryoray.losses.correlation import CorrelationLoss
from cryoray.losses.cryores import CryoResLoss
from cryoray.losses.log_abs_error import LogAbsoluteErrorLoss, log_absolute_error
from cryoray.losses.masked_mse import MaskedMSELoss
from cryoray.losses.weighted_ce import WeightedCrossEntropyLoss, class_weights

__all__ = [
    "CombinedLoss",
    "CorrelationLoss",
    "CryoResLoss",
    "LogAbsoluteErrorLoss",
    "LossConfig",
    "LossOutput",
    "LossTermConfig",
    "MaskedMSELoss",
    "WeightedCrossEntropyLoss",
    "build_loss",
    "class_weights",
    "log_absolute_error",
]
