"""struc2mapGAN: a U-Net++ generator (simulated → experimental-like map) and its 3D discriminator."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cryoray.models.checks import LayerSpec, check_struc2mapgan
from cryoray.models.discriminator import Discriminator3D
from cryoray.models.unetpp import UNetPlusPlus

__all__ = ["Struc2mapGANModel"]


class Struc2mapGANModel(nn.Module):
    """The generator and the discriminator of struc2mapGAN, kept (and saved) together.

    Zhang, Condon & Dao Duc, "struc2mapGAN: improving synthetic cryo-EM density maps with
    generative adversarial networks", 2024, https://arxiv.org/abs/2407.17674. ``forward`` is the
    generator only, so inference treats this like any one-head regression network; training
    (:mod:`cryoray.train.gan`) steps :attr:`generator` and :attr:`discriminator` with their own
    optimisers. The input is a simulated map in the simulator's own units (CryoTEN eq. 1), divided
    by ``input_scale`` inside the network, so the scale travels with the weights.

    Args:
        in_channels: input channels. Defaults to 1.
        out_channels: output channels. Defaults to 1.
        img_size: box side in voxels, a multiple of ``2 ** (len(features) - 1)``. Defaults to 32.
        features: generator channels per level (see :class:`UNetPlusPlus`). Defaults to (32, 64, 128, 256).
        disc_channels: discriminator convolution channels. Defaults to (32, 64, 128, 256).
        disc_strides: discriminator convolution strides. Defaults to (1, 1, 1, 1).
        disc_hidden: discriminator fully connected widths. Defaults to (100, 25).
        input_scale: simulated density that the generator sees as 1.0; 2.0 is about the 99.9th
            percentile of the positive voxels of protein maps simulated at 3–3.5 Å. Defaults to 2.0.
        norm: normalisation of both networks. Defaults to ``"instance"``.
        act: activation of both networks. Defaults to ``"prelu"``.
        dropout_rate: dropout in the generator's blocks. Defaults to 0.0.
    """

    heads: tuple[str, ...] = ("output",)

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        img_size: int = 32,
        features: Sequence[int] = (32, 64, 128, 256),
        disc_channels: Sequence[int] = (32, 64, 128, 256),
        disc_strides: Sequence[int] = (1, 1, 1, 1),
        disc_hidden: Sequence[int] = (100, 25),
        input_scale: float = 2.0,
        norm: LayerSpec = "instance",
        act: LayerSpec = "prelu",
        dropout_rate: float = 0.0,
    ) -> None:
        check_struc2mapgan(
            in_channels=in_channels,
            out_channels=out_channels,
            img_size=img_size,
            features=features,
            disc_channels=disc_channels,
            disc_strides=disc_strides,
            disc_hidden=disc_hidden,
            input_scale=input_scale,
            norm=norm,
            act=act,
            dropout_rate=dropout_rate,
        )
        super().__init__()
        self.input_scale = float(input_scale)
        self.out_channels_by_head = {"output": out_channels}
        self.generator = UNetPlusPlus(in_channels, out_channels, img_size, features, norm, act, dropout_rate)
        self.discriminator = Discriminator3D(out_channels, disc_channels, disc_strides, disc_hidden, norm, act)

    def scale_input(self, x: torch.Tensor) -> torch.Tensor:
        """A simulated map in the simulator's units as the generator's input."""
        return x / self.input_scale

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The generated (experimental-like) map ``(B, out_channels, D, H, W)`` of simulated boxes ``x``."""
        return self.generator(self.scale_input(x))
