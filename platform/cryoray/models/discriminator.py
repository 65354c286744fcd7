"""A 3D convolutional classifier of real vs generated boxes: struc2mapGAN's discriminator."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.blocks import Convolution
from torch import nn

from cryoray.models.checks import LayerSpec, check_discriminator, check_input

__all__ = ["Discriminator3D"]


class Discriminator3D(nn.Module):
    """3×3×3 convolutions, global average pooling, then fully connected layers to one logit per box.

    As struc2mapGAN's discriminator (Zhang, Condon & Dao Duc 2024, https://arxiv.org/abs/2407.17674):
    every convolution but the last is followed by ``norm`` and ``act``; the pooled features go
    through ``hidden`` fully connected layers with ReLU. Input ``(B, in_channels, D, H, W)``
    (any side the strides can take); returns logits ``(B, 1)``: > 0 means "experimental".

    Args:
        in_channels: input channels. Defaults to 1.
        channels: output channels of each convolution. Defaults to (32, 64, 128, 256).
        strides: stride of each convolution; struc2mapGAN keeps the full 32³ resolution (all 1),
            2 makes a level 8× cheaper. Defaults to (1, 1, 1, 1).
        hidden: widths of the fully connected layers before the logit. Defaults to (100, 25).
        norm: normalisation after each convolution but the last. Defaults to ``"instance"``.
        act: activation after each convolution but the last. Defaults to ``"prelu"``.

    Example::

        >>> Discriminator3D(channels=(4, 8), strides=(2, 2), hidden=(8,))(torch.zeros(3, 1, 16, 16, 16)).shape
        torch.Size([3, 1])
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (32, 64, 128, 256),
        strides: Sequence[int] = (1, 1, 1, 1),
        hidden: Sequence[int] = (100, 25),
        norm: LayerSpec = "instance",
        act: LayerSpec = "prelu",
    ) -> None:
        check_discriminator(
            in_channels=in_channels, channels=channels, strides=strides, hidden=hidden, norm=norm, act=act
        )
        super().__init__()
        self.in_channels = in_channels
        widths = [in_channels, *channels]
        last = len(channels) - 1
        self.features = nn.Sequential(
            *(
                Convolution(
                    3,
                    widths[i],
                    widths[i + 1],
                    strides=strides[i],
                    kernel_size=3,
                    norm=None if i == last else norm,
                    act=None if i == last else act,
                    conv_only=i == last,
                )
                for i in range(len(channels))
            ),
            nn.AdaptiveAvgPool3d(1),
            nn.Flatten(),
        )
        layers: list[nn.Module] = []
        for a, b in zip([channels[-1], *hidden], hidden, strict=False):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(hidden[-1] if hidden else channels[-1], 1))
        self.classifier = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, 1)``: how experimental each box looks."""
        check_input(x.shape, in_channels=self.in_channels)
        return self.classifier(self.features(x))
