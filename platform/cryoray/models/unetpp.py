"""A 3D U-Net++ (nested U-Net with dense skip pathways) from MONAI residual blocks: struc2mapGAN's generator."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.blocks import UnetResBlock
from torch import nn

from cryoray.models.checks import LayerSpec, check_input, check_unetpp

__all__ = ["UNetPlusPlus"]


class UNetPlusPlus(nn.Module):
    """U-Net++: every decoder node sees all earlier nodes of its level and the upsampled node below.

    Zhou et al., "UNet++: A Nested U-Net Architecture for Medical Image Segmentation", DLMIA 2018,
    https://arxiv.org/abs/1807.10165, as struc2mapGAN's generator (Zhang, Condon & Dao Duc 2024,
    https://arxiv.org/abs/2407.17674): node ``X^{i,j}`` (level ``i``, position ``j``) is a residual
    block of two 3×3×3 convolutions (MONAI's ``UnetResBlock``) over the concatenation of
    ``X^{i,0}, …, X^{i,j-1}`` and the ×2 trilinear upsampling of ``X^{i+1,j-1}``; the encoder
    ``X^{i,0}`` max-pools by 2 between levels; a 1×1×1 convolution of ``X^{0,depth}`` is the output.
    3D only. Input ``(B, in_channels, D, H, W)`` with sides that are multiples of
    ``2 ** (len(features) - 1)``; returns ``{"output": (B, out_channels, D, H, W)}``.

    Args:
        in_channels: input channels. Defaults to 1.
        out_channels: output channels. Defaults to 1 (a map).
        img_size: box side used in training, checked to be a multiple of the downsampling.
            Defaults to 32 (struc2mapGAN's boxes).
        features: channels per level, finest first; ``len(features) - 1`` downsamplings.
            Defaults to (32, 64, 128, 256) (struc2mapGAN's four levels).
        norm: normalisation of every block. Defaults to ``"instance"``.
        act: activation of every block. Defaults to ``"prelu"``.
        dropout_rate: dropout in every block. Defaults to 0.0.

    Example::

        >>> net = UNetPlusPlus(features=(4, 8))
        >>> net(torch.zeros(1, 1, 16, 16, 16))["output"].shape
        torch.Size([1, 1, 16, 16, 16])
    """

    heads: tuple[str, ...] = ("output",)

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        img_size: int = 32,
        features: Sequence[int] = (32, 64, 128, 256),
        norm: LayerSpec = "instance",
        act: LayerSpec = "prelu",
        dropout_rate: float = 0.0,
    ) -> None:
        check_unetpp(
            in_channels=in_channels,
            out_channels=out_channels,
            img_size=img_size,
            features=features,
            norm=norm,
            act=act,
            dropout_rate=dropout_rate,
        )
        super().__init__()
        self.in_channels = in_channels
        self.depth = len(features) - 1
        self.out_channels_by_head = {"output": out_channels}

        def block(c_in: int, c_out: int) -> UnetResBlock:
            return UnetResBlock(
                3, c_in, c_out, kernel_size=3, stride=1, norm_name=norm, act_name=act, dropout=dropout_rate
            )

        self.nodes = nn.ModuleDict()
        for i, width in enumerate(features):
            self.nodes[f"{i}_0"] = block(in_channels if i == 0 else features[i - 1], width)
            for j in range(1, self.depth - i + 1):
                self.nodes[f"{i}_{j}"] = block(width * j + features[i + 1], width)
        self.pool = nn.MaxPool3d(2)
        self.up = nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False)
        self.final = nn.Conv3d(features[0], out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The output ``(B, out_channels, D, H, W)`` for a batch of boxes."""
        check_input(x.shape, in_channels=self.in_channels, multiple_of=2**self.depth)
        levels: list[list[torch.Tensor]] = []
        for i in range(self.depth + 1):
            levels.append([self.nodes[f"{i}_0"](x if i == 0 else self.pool(levels[-1][0]))])
        for j in range(1, self.depth + 1):
            for i in range(self.depth - j + 1):
                merged = torch.cat([*levels[i][:j], self.up(levels[i + 1][j - 1])], dim=1)
                levels[i].append(self.nodes[f"{i}_{j}"](merged))
        return {"output": self.final(levels[0][self.depth])}
