"""The residual 3D U-Net levels CryoRes and CryoSAMU share, as plain module lists and the passes through them.

Down: one MONAI residual unit per ``channels`` entry, each after the first halving the box. Up:
per finer level a transposed convolution doubling the box, then a residual unit merging it with
the skip of that level. The lists keep each network's parameter names (``encoder.0...``,
``up.0...``, ``decoder.0...``) its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from monai.networks.blocks import Convolution, ResidualUnit
from torch import nn

__all__ = ["decode", "down_levels", "encode", "up_levels"]


def down_levels(
    in_channels: int, channels: Sequence[int], num_res_units: int, layers: Mapping[str, Any]
) -> nn.ModuleList:
    """The encoder: a residual unit per level, stride 1 at the first and 2 after; ``layers``: act, norm, dropout."""
    inputs = (in_channels, *channels[:-1])
    return nn.ModuleList(
        ResidualUnit(3, c_in, c_out, strides=1 if level == 0 else 2, subunits=num_res_units, **layers)
        for level, (c_in, c_out) in enumerate(zip(inputs, channels, strict=True))
    )


def up_levels(
    channels: Sequence[int], num_res_units: int, layers: Mapping[str, Any]
) -> tuple[nn.ModuleList, nn.ModuleList]:
    """The decoder, coarsest level first: transposed convolutions, and residual units merging each with its skip."""
    coarse, fine = channels[:0:-1], channels[-2::-1]
    up = nn.ModuleList(
        Convolution(3, c_in, c_out, strides=2, is_transposed=True, **layers)
        for c_in, c_out in zip(coarse, fine, strict=True)
    )
    merge = nn.ModuleList(ResidualUnit(3, 2 * c, c, subunits=num_res_units, **layers) for c in fine)
    return up, merge


def encode(levels: nn.ModuleList, x: torch.Tensor) -> list[torch.Tensor]:
    """The feature map of every level, finest first; the last is the bottleneck."""
    features = []
    for level in levels:
        x = level(x)
        features.append(x)
    return features


def decode(up: nn.ModuleList, merge: nn.ModuleList, features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Full-resolution features ``(B, channels[0], D, H, W)`` from the levels' feature maps."""
    x = features[-1]
    for step, unit, skip in zip(up, merge, features[-2::-1], strict=True):
        x = unit(torch.cat([step(x), skip], dim=1))
    return x
