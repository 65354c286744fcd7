"""CryoRes's local-resolution network: one map box in, global resolution, relative local resolution and mask out.

Written from the CryoRes paper ("CryoRes: Local Resolution Estimation of Cryo-EM Density Maps by
Deep Learning", as summarised in ``shared/papers/cryores.txt``), which gives the three outputs,
their labels and the loss, not the layer sizes: the sizes here are cryoray's
choice, a residual 3D U-Net of MONAI blocks. Its losses are :mod:`cryoray.losses.cryores`, the
post-processing (baseline + relative, times the mask, on the input's grid)
:mod:`cryoray.infer.local_resolution`, the metrics :mod:`cryoray.metrics.cryores`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cryoray.models import residual_unet
from cryoray.models.checks import LayerSpec, check_cryores, check_input

__all__ = ["CRYORES_HEADS", "CryoResModel"]

#: The heads, in output order: global resolution, relative local resolution, molecular mask.
CRYORES_HEADS: tuple[str, ...] = ("global", "relative", "mask")


class CryoResModel(nn.Module):
    """A 3D encoder-decoder from a map box to CryoRes's three outputs.

    CryoRes (``shared/papers/cryores.txt``) with cryoray's layer sizes. The encoder has one
    residual level per ``channels`` entry, each after the first halving the box; the decoder
    mirrors it with transposed convolutions and skip connections back to full resolution.

    - ``global``: the map's global resolution in Å, one value per box from the bottleneck
      (average pooling, then a two-layer perceptron). Returned broadcast over the box,
      ``(B, 1, D, H, W)``, so it keeps the output contract of every cryoray network (full-resolution
      heads) and is stitched like any head; every voxel of a box holds the same value.
    - ``relative``: local minus global resolution in Å per voxel, ``(B, 1, D, H, W)``.
    - ``mask``: molecular-mask logits per voxel, ``(B, 2, D, H, W)``, background then molecule:
      the softmax's molecule channel is the sigmoid of the logit difference, so CryoRes's binary
      cross-entropy is the two-class cross-entropy and the head is an ordinary classification
      head for inference.

    Input ``(B, in_channels, D, H, W)`` with sides that are multiples of ``2 ** (len(channels) - 1)``.

    Args:
        in_channels: input channels. Defaults to 1 (a density map).
        img_size: box side used in training, checked to be a multiple of the downsampling; the
            network takes any such side. Defaults to 64.
        channels: channels per level, finest first (at least 2). Defaults to (16, 32, 64, 128).
        num_res_units: convolutions per residual unit. Defaults to 2.
        hidden_size: width of the global head's hidden layer. Defaults to 64.
        dropout_rate: dropout in every unit. Defaults to 0.0.
        norm: normalisation. Defaults to ``"instance"``.
        act: activation. Defaults to ``"prelu"``.

    Example:
        >>> model = CryoResModel(img_size=16, channels=(4, 8), hidden_size=8).eval()
        >>> {k: tuple(v.shape) for k, v in model(torch.zeros(1, 1, 16, 16, 16)).items()}
        {'global': (1, 1, 16, 16, 16), 'relative': (1, 1, 16, 16, 16), 'mask': (1, 2, 16, 16, 16)}
    """

    heads: tuple[str, ...] = CRYORES_HEADS

    def __init__(
        self,
        in_channels: int = 1,
        img_size: int = 64,
        channels: Sequence[int] = (16, 32, 64, 128),
        num_res_units: int = 2,
        hidden_size: int = 64,
        dropout_rate: float = 0.0,
        norm: LayerSpec = "instance",
        act: LayerSpec = "prelu",
    ) -> None:
        check_cryores(
            in_channels=in_channels,
            img_size=img_size,
            channels=channels,
            num_res_units=num_res_units,
            hidden_size=hidden_size,
            dropout_rate=dropout_rate,
            norm=norm,
            act=act,
        )
        super().__init__()
        self.in_channels = in_channels
        self.downsampling = 2 ** (len(channels) - 1)
        self.out_channels_by_head = {"global": 1, "relative": 1, "mask": 2}
        layers = {"act": act, "norm": norm, "dropout": dropout_rate or None}
        self.encoder = residual_unet.down_levels(in_channels, channels, num_res_units, layers)
        self.up, self.decoder = residual_unet.up_levels(channels, num_res_units, layers)
        self.global_head = nn.Sequential(
            nn.AdaptiveAvgPool3d(1),
            nn.Flatten(),
            nn.Linear(channels[-1], hidden_size),
            nn.ReLU(),
            nn.Linear(hidden_size, 1),
        )
        self.relative_head = nn.Conv3d(channels[0], 1, kernel_size=1)
        self.mask_head = nn.Conv3d(channels[0], 2, kernel_size=1)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature map of every level, finest first; the last is the bottleneck."""
        return residual_unet.encode(self.encoder, x)

    def decode(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Full-resolution features ``(B, channels[0], D, H, W)`` from the encoder's levels."""
        return residual_unet.decode(self.up, self.decoder, features)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``global`` and ``relative`` (Å) and ``mask`` logits for a batch of boxes, all at full resolution."""
        check_input(x.shape, in_channels=self.in_channels, multiple_of=self.downsampling)
        features = self.encode(x)
        decoded = self.decode(features)
        baseline = self.global_head(features[-1])  # (B, 1)
        return {
            "global": baseline[:, :, None, None, None].expand(-1, -1, *x.shape[2:]),
            "relative": self.relative_head(decoded),
            "mask": self.mask_head(decoded),
        }
