"""MONAI's UNETR with a dict output, at Cryo2Struct's sizes (Cryo2Struct's exact network is ``cryo2struct.py``)."""

from __future__ import annotations

import torch
from monai.networks.nets import UNETR
from torch import nn

from cryoray.models.checks import LayerSpec, check_input, check_unetr

__all__ = ["UNETRModel"]


class UNETRModel(nn.Module):
    """A ViT encoder with a convolutional U-Net decoder, for one voxel-wise output.

    Hatamizadeh et al., "UNETR: Transformers for 3D Medical Image Segmentation", WACV 2022,
    https://arxiv.org/abs/2103.10504; the defaults are the sizes of Cryo2Struct's UNETR-style
    network (Giri & Cheng 2024): 32³ boxes, patch 16, width 768, 12 layers, 12 heads, MLP 3072.
    MONAI fixes the patch size and the depth.
    3D only. Takes ``(B, in_channels, D, H, W)`` with sides ``img_size`` (position embeddings fix
    the size); returns ``{"output": logits}`` at full resolution.

    With Cryo2Struct's sizes this has 92,624,132 parameters (4 classes) against Cryo2Struct's
    92,281,604: Cryo2Struct's own Transformer U-Net (``cryo2struct``) is a different network.

    Args:
        in_channels: input channels. Defaults to 1.
        out_channels: classes (logits, no softmax). Defaults to 4.
        img_size: box side, a multiple of 16. Defaults to 32.
        feature_size: channels of the first decoder level. Defaults to 16.
        hidden_size: transformer width. Defaults to 768.
        mlp_dim: transformer MLP width. Defaults to 3072.
        num_heads: attention heads. Defaults to 12.
        dropout_rate: transformer dropout. Defaults to 0.1.
        norm: decoder normalisation. Defaults to ``"instance"``.
    """

    heads: tuple[str, ...] = ("output",)

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 4,
        img_size: int = 32,
        feature_size: int = 16,
        hidden_size: int = 768,
        mlp_dim: int = 3072,
        num_heads: int = 12,
        dropout_rate: float = 0.1,
        norm: LayerSpec = "instance",
    ) -> None:
        check_unetr(
            in_channels=in_channels,
            out_channels=out_channels,
            img_size=img_size,
            feature_size=feature_size,
            hidden_size=hidden_size,
            mlp_dim=mlp_dim,
            num_heads=num_heads,
            dropout_rate=dropout_rate,
            norm=norm,
        )
        super().__init__()
        self.in_channels = in_channels
        self.img_size = img_size
        self.out_channels_by_head = {"output": out_channels}
        self.net = UNETR(
            in_channels=in_channels,
            out_channels=out_channels,
            img_size=img_size,
            feature_size=feature_size,
            hidden_size=hidden_size,
            mlp_dim=mlp_dim,
            num_heads=num_heads,
            norm_name=norm,
            dropout_rate=dropout_rate,
            spatial_dims=3,
        )
        # MONAI 1.6 gives every transformer block a cross-attention LayerNorm even without
        # cross-attention; it is never used, and DDP refuses parameters that get no gradient.
        for block in self.net.vit.blocks:
            if not block.with_cross_attention:
                block.norm_cross_attn = nn.Identity()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits ``(B, out_channels, D, H, W)`` for a batch of ``img_size``³ boxes."""
        check_input(x.shape, in_channels=self.in_channels, side=self.img_size)
        return {"output": self.net(x)}
