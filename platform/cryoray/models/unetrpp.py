"""UNETR++ with efficient paired attention, at CryoTEN's sizes (CryoTEN's exact network is ``cryoten.py``).

Written here from the papers because MONAI has neither UNETR++ nor its EPA block; MONAI's
convolution blocks (``UnetResBlock``, ``UnetOutBlock``, ``get_conv_layer``) are used where they fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.blocks import UnetOutBlock, UnetResBlock
from monai.networks.blocks.dynunet_block import get_conv_layer
from torch import nn

from cryoray.models.checks import LayerSpec, check_input, check_unetrpp

__all__ = ["EPABlock", "EfficientPairedAttention", "UNETRPPModel"]


class EfficientPairedAttention(nn.Module):
    """Efficient paired attention (EPA): a spatial and a channel branch sharing queries and keys.

    Shaker et al., "UNETR++: Delving into Efficient and Accurate 3D Medical Image Segmentation",
    IEEE TMI 2024, https://doi.org/10.1109/TMI.2024.3398728. One linear layer gives the shared
    queries and keys and a value set per branch. The channel branch attends between channels
    (``C/h × C/h`` per head). The spatial branch projects keys and values along the token axis
    from ``num_tokens`` to ``proj_size`` (one projection for both), so it costs ``O(N·p)``, not
    ``O(N²)``. Each branch is mapped to half the width and the halves are concatenated.
    Tokens are ``(B, N, C)``.

    Args:
        hidden_size: token width ``C``, divisible by ``num_heads``.
        num_tokens: tokens ``N`` per sample (fixed: the projection is a linear map over them).
        proj_size: tokens the spatial keys and values are projected to.
        num_heads: attention heads.
        dropout_rate: dropout on both attention maps.
    """

    def __init__(self, hidden_size: int, num_tokens: int, proj_size: int, num_heads: int, dropout_rate: float) -> None:
        if hidden_size % num_heads:
            raise ValueError(f"`hidden_size` ({hidden_size}) must be divisible by `num_heads` ({num_heads}).")
        super().__init__()
        self.num_heads = num_heads
        self.qkvv = nn.Linear(hidden_size, 4 * hidden_size, bias=False)
        self.token_proj = nn.Linear(num_tokens, proj_size)
        self.channel_temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.spatial_temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.attn_drop = nn.Dropout(dropout_rate)
        self.spatial_out = nn.Linear(hidden_size, hidden_size // 2)
        self.channel_out = nn.Linear(hidden_size, hidden_size - hidden_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over tokens ``(B, N, C)``; returns ``(B, N, C)``."""
        b, n, c = x.shape
        # four (B, heads, C/heads, N) tensors
        q, k, v_channel, v_spatial = (
            self.qkvv(x).reshape(b, n, 4, self.num_heads, c // self.num_heads).permute(2, 0, 3, 4, 1)
        )
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)

        channel_attn = (q @ k.transpose(-2, -1)) * self.channel_temperature
        x_channel = self.attn_drop(channel_attn.softmax(dim=-1)) @ v_channel

        k_proj, v_proj = self.token_proj(k), self.token_proj(v_spatial)
        spatial_attn = (q.transpose(-2, -1) @ k_proj) * self.spatial_temperature
        x_spatial = self.attn_drop(spatial_attn.softmax(dim=-1)) @ v_proj.transpose(-2, -1)

        x_channel = x_channel.permute(0, 3, 1, 2).reshape(b, n, c)
        x_spatial = x_spatial.permute(0, 2, 1, 3).reshape(b, n, c)
        return torch.cat((self.spatial_out(x_spatial), self.channel_out(x_channel)), dim=-1)


class EPABlock(nn.Module):
    """A UNETR++ transformer block on a ``side``³ feature map.

    Tokens get a learned position embedding and a layer-scaled EPA residual; back on the grid a
    3×3×3 residual conv block (batch norm, leaky ReLU) and a dropout + 1×1×1 conv residual
    follow, as in UNETR++. Input and output are ``(B, C, side, side, side)``.

    Args:
        hidden_size: channels ``C``.
        side: side of the feature map (fixes the position embedding and the EPA projection).
        proj_size: EPA projected token count.
        num_heads: attention heads.
        dropout_rate: attention and block dropout.
    """

    def __init__(self, hidden_size: int, side: int, proj_size: int, num_heads: int, dropout_rate: float) -> None:
        super().__init__()
        num_tokens = side**3
        self.norm = nn.LayerNorm(hidden_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, hidden_size))
        self.layer_scale = nn.Parameter(torch.full((hidden_size,), 1e-6))
        self.attention = EfficientPairedAttention(hidden_size, num_tokens, proj_size, num_heads, dropout_rate)
        self.conv = UnetResBlock(3, hidden_size, hidden_size, kernel_size=3, stride=1, norm_name="batch")
        self.out = nn.Sequential(
            nn.Dropout3d(dropout_rate),
            get_conv_layer(3, hidden_size, hidden_size, kernel_size=1, bias=True, conv_only=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Refine a feature map ``(B, C, D, H, W)``."""
        b, c, d, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2) + self.pos_embed
        tokens = tokens + self.layer_scale * self.attention(self.norm(tokens))
        x = tokens.transpose(1, 2).reshape(b, c, d, h, w)
        return x + self.out(self.conv(x))


class _UpBlock(nn.Module):
    """Transposed-conv upsampling by ``scale``, added to the skip, then refined."""

    def __init__(self, in_channels: int, out_channels: int, scale: int, refine: nn.Module) -> None:
        super().__init__()
        self.up = get_conv_layer(
            3, in_channels, out_channels, kernel_size=scale, stride=scale, conv_only=True, is_transposed=True
        )
        self.refine = refine

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.refine(self.up(x) + skip)


def _epa_stage(dim: int, side: int, proj_size: int, depth: int, num_heads: int, dropout_rate: float) -> nn.Sequential:
    return nn.Sequential(*(EPABlock(dim, side, proj_size, num_heads, dropout_rate) for _ in range(depth)))


class UNETRPPModel(nn.Module):
    """UNETR++: a hierarchical EPA encoder and a U-Net decoder, for map-to-map regression.

    Shaker et al., "UNETR++", IEEE TMI 2024, https://doi.org/10.1109/TMI.2024.3398728; CryoTEN
    (Selvaraj, Wang & Cheng, Bioinformatics 2024) uses it on 48³ boxes. The encoder embeds
    ``patch_size``³ patches, then halves the grid before every further stage (conv + group
    norm), each stage being ``depths[i]`` EPA blocks; the last stage is the bottleneck (hidden
    size ``dims[-1]``). Each decoder level upsamples by transposed conv, adds the encoder stage
    of the same size and runs as many EPA blocks; the last level returns to full resolution and
    adds a conv block on the input instead of attention. 3D only; takes ``img_size``³ boxes
    ``(B, in_channels, D, H, W)`` (position embeddings fix the size) and returns
    ``{"output": (B, out_channels, D, H, W)}``.

    With CryoTEN's configuration this has 29,834,873 parameters, 1.1 % more than the ~29.5 M
    reported. The EPA key/value projection is a linear map over the tokens, so its size follows
    the grid: at 24³ tokens (48³ boxes, patch 2) each of the 6 blocks at that level holds
    884,800 weights, as many again for the position embeddings. The paper leaves some details
    open (here the key and value projections are shared, the decoder levels use the encoder's
    projection sizes, and the downsampling convs have no bias), which may account for the rest.

    Args:
        in_channels: input channels. Defaults to 1.
        out_channels: output channels (no activation: regression). Defaults to 1.
        img_size: box side, a multiple of ``patch_size * 2 ** (len(dims) - 1)``. Defaults to 48.
        patch_size: side of the patch embedding. Defaults to 2.
        feature_size: channels at full resolution. Defaults to 16.
        dims: channels per stage. Defaults to (32, 64, 128, 256).
        depths: EPA blocks per stage, mirrored in the decoder. Defaults to (3, 3, 3, 3).
        proj_sizes: EPA projected token counts per stage. Defaults to (64, 64, 64, 32).
        num_heads: attention heads. Defaults to 4.
        dropout_rate: attention and block dropout. Defaults to 0.1.
        norm: normalisation of the full-resolution conv blocks. Defaults to ``"instance"``.
    """

    heads: tuple[str, ...] = ("output",)

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        img_size: int = 48,
        patch_size: int = 2,
        feature_size: int = 16,
        dims: Sequence[int] = (32, 64, 128, 256),
        depths: Sequence[int] = (3, 3, 3, 3),
        proj_sizes: Sequence[int] = (64, 64, 64, 32),
        num_heads: int = 4,
        dropout_rate: float = 0.1,
        norm: LayerSpec = "instance",
    ) -> None:
        check_unetrpp(
            in_channels=in_channels,
            out_channels=out_channels,
            img_size=img_size,
            patch_size=patch_size,
            feature_size=feature_size,
            dims=dims,
            depths=depths,
            proj_sizes=proj_sizes,
            num_heads=num_heads,
            dropout_rate=dropout_rate,
            norm=norm,
        )
        super().__init__()
        self.in_channels = in_channels
        self.img_size = img_size
        self.out_channels_by_head = {"output": out_channels}
        sides = [img_size // (patch_size * 2**i) for i in range(len(dims))]
        scales = (patch_size,) + (2,) * (len(dims) - 1)
        self.downsamples = nn.ModuleList(
            self._make_downsample(c_in, c_out, scale)
            for c_in, c_out, scale in zip((in_channels, *dims[:-1]), dims, scales, strict=True)
        )
        self.stages = nn.ModuleList(
            _epa_stage(dims[i], sides[i], proj_sizes[i], depths[i], num_heads, dropout_rate) for i in range(len(dims))
        )
        self.up_blocks = nn.ModuleList(
            _UpBlock(
                dims[i + 1],
                dims[i],
                2,
                _epa_stage(dims[i], sides[i], proj_sizes[i], depths[i], num_heads, dropout_rate),
            )
            for i in reversed(range(len(dims) - 1))
        )
        self.full_res = UnetResBlock(3, in_channels, feature_size, kernel_size=3, stride=1, norm_name=norm)
        self.full_res_up = _UpBlock(
            dims[0], feature_size, patch_size, UnetResBlock(3, feature_size, feature_size, 3, 1, norm_name=norm)
        )
        self.out = UnetOutBlock(3, feature_size, out_channels)

    @staticmethod
    def _make_downsample(in_channels: int, out_channels: int, scale: int) -> nn.Sequential:
        # UNETR++ normalises with as many groups as input channels; the gcd equals that for the
        # published channel doublings and stays valid for any other `dims`.
        return nn.Sequential(
            get_conv_layer(3, in_channels, out_channels, kernel_size=scale, stride=scale, conv_only=True),
            nn.GroupNorm(math.gcd(in_channels, out_channels), out_channels),
        )

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature map of every encoder stage, finest first."""
        features = []
        for downsample, stage in zip(self.downsamples, self.stages, strict=True):
            x = stage(downsample(x))
            features.append(x)
        return features

    def decode(self, x: torch.Tensor, features: list[torch.Tensor]) -> torch.Tensor:
        """Upsample from the bottleneck through the skips back to the input grid of ``x``."""
        y = features[-1]
        for up, skip in zip(self.up_blocks, reversed(features[:-1]), strict=False):
            y = up(y, skip)
        return self.out(self.full_res_up(y, self.full_res(x)))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The enhanced map ``(B, out_channels, D, H, W)`` for a batch of ``img_size``³ boxes."""
        check_input(x.shape, in_channels=self.in_channels, side=self.img_size)
        return {"output": self.decode(x, self.encode(x))}
