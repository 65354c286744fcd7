"""A plain 3D U-Net baseline: MONAI's residual UNet with a dict output."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from monai.networks.nets import UNet
from torch import nn

from cryoray.models.checks import LayerSpec, check_input, check_unet

__all__ = ["UNetModel"]


class UNetModel(nn.Module):
    """A convolution-only U-Net, the baseline the transformers have to beat.

    Kerfoot et al., "Left-Ventricle Quantification Using Residual U-Net", STACOM 2018,
    https://doi.org/10.1007/978-3-030-12029-0_40 (MONAI's ``UNet``). One output ``"output"``: a
    map (``out_channels=1``, regression) or class logits; or several named heads sharing the
    network (``out_channels={"ca": 1, "amino_acid": 21}``: the last layer's channels split in
    that order). 3D only. Input BNHWD with sides that are multiples of the product of
    ``strides``; returns ``{head: tensor}`` at full resolution.

    Args:
        in_channels: input channels. Defaults to 1.
        out_channels: output channels (1 for regression, else logits per class), or channels by
            head name for several heads. Defaults to 1.
        img_size: box side used in training, checked to be a multiple of the product of ``strides``;
            the network itself takes any such side. Defaults to 48.
        channels: channels per level. Defaults to (16, 32, 64, 128, 256).
        strides: downsampling between levels. Defaults to (2, 2, 2, 2).
        num_res_units: residual units per level. Defaults to 2.
        dropout_rate: dropout in every unit. Defaults to 0.0.
        norm: normalisation. Defaults to ``"instance"``.
        act: activation. Defaults to ``"prelu"``.
        residual: predict a change of the input: the output is ``x + s · unet(x)`` with a learned
            scale ``s`` that starts at 0, so the untrained network returns its input exactly and
            training can only move away from it where that lowers the loss (map enhancement:
            the input map is the baseline to beat). Needs ``out_channels == in_channels``.
            Defaults to False.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int | Mapping[str, int] = 1,
        img_size: int = 48,
        channels: Sequence[int] = (16, 32, 64, 128, 256),
        strides: Sequence[int] = (2, 2, 2, 2),
        num_res_units: int = 2,
        dropout_rate: float = 0.0,
        norm: LayerSpec = "instance",
        act: LayerSpec = "prelu",
        residual: bool = False,
    ) -> None:
        check_unet(
            in_channels=in_channels,
            out_channels=out_channels,
            img_size=img_size,
            channels=channels,
            strides=strides,
            num_res_units=num_res_units,
            dropout_rate=dropout_rate,
            norm=norm,
            act=act,
            residual=residual,
        )
        super().__init__()
        self.in_channels = in_channels
        self.downsampling = math.prod(strides)
        self.out_channels_by_head = (
            dict(out_channels) if isinstance(out_channels, Mapping) else {"output": out_channels}
        )
        self.heads = tuple(self.out_channels_by_head)
        self.net = UNet(
            spatial_dims=3,
            in_channels=in_channels,
            out_channels=sum(self.out_channels_by_head.values()),
            channels=tuple(channels),
            strides=tuple(strides),
            num_res_units=num_res_units,
            act=act,
            norm=norm,
            dropout=dropout_rate,
        )
        # ReZero-style: a scalar gate at 0 makes the residual network the identity at the start
        self.residual_scale = nn.Parameter(torch.zeros(1)) if residual else None

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each head's output ``(B, channels, D, H, W)`` for a batch of boxes."""
        check_input(x.shape, in_channels=self.in_channels, multiple_of=self.downsampling)
        y = self.net(x)
        if self.residual_scale is not None:
            return {"output": x + self.residual_scale * y}
        parts = torch.split(y, list(self.out_channels_by_head.values()), dim=1)
        return dict(zip(self.heads, parts, strict=True))
