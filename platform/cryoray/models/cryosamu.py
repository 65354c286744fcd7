"""CryoSAMU's structure-aware multimodal 3D U-Net: a map box and an optional per-entry embedding in, a map out.

Written from the CryoSAMU paper (Zhang & Dao Duc, "CryoSAMU: Enhancing 3D Cryo-EM Density Maps of
Protein Structures at Intermediate Resolution with Structure-Aware Multimodal U-Nets", as
summarised in ``shared/papers/cryosamu.txt``): a density encoder, a bottleneck that
cross-attends to a fixed-size structural embedding of the entry (ESM-IF1 in the paper), a
decoder, trained towards simulated maps of 4-8 Å entries. The paper gives that layout, not the
layer sizes: the sizes here are cryoray's, from MONAI and torch blocks. Embeddings come from
:mod:`cryoray.labels.embeddings` (written at ingest); without one the bottleneck attends to
learned "no structure" tokens, so inference works on any map.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cryoray.models import residual_unet
from cryoray.models.checks import LayerSpec, check_cryosamu, check_input

__all__ = ["CryoSAMUModel"]


class CryoSAMUModel(nn.Module):
    """A residual 3D U-Net whose bottleneck cross-attends to structure tokens.

    - **Encoder**: one MONAI residual unit per ``channels`` entry, each after the first halving the box.
    - **Structural bottleneck**: the coarsest feature map becomes ``(B, N, channels[-1])`` tokens
      that pass ``bottleneck_depth`` transformer decoder layers (torch's: self-attention over the
      box's tokens, cross-attention to the structure tokens, feed-forward; pre-norm). The
      structure tokens are ``embedding_tokens`` vectors projected from the entry's embedding
      ``(B, embedding_dim)`` (layer norm, then one linear layer), or, without an embedding, as
      many learned "no structure" tokens.
    - **Decoder**: transposed convolutions and residual units with skip connections back to full
      resolution; a 1×1×1 convolution gives the output map. Instance normalisation in the decoder
      removes any per-box constant the bottleneck adds, so the mean of the fused bottleneck tokens
      also scales and shifts the final features per channel (FiLM; zero at the start) before the
      1×1×1 convolution: without it a structure could change the map's details but not its
      overall level or contrast.

    During training, ``embedding_dropout`` replaces each box's embedding by the "no structure"
    tokens with that probability, so one network learns both paths (the paper's ablation trains
    a separate network without structure). Under DDP every parameter needs a gradient in every
    step: train with embeddings and ``embedding_dropout`` > 0 (both token sets are in every
    step's graph), or without embeddings and ``find_unused_parameters``.

    Input ``(B, in_channels, D, H, W)`` with sides that are multiples of ``2 ** (len(channels) - 1)``;
    returns ``{"output": (B, out_channels, D, H, W)}``.

    Args:
        in_channels: input channels. Defaults to 1 (a density map).
        out_channels: output channels. Defaults to 1 (the enhanced map).
        img_size: box side used in training, checked to be a multiple of the downsampling; the
            network takes any such side. Defaults to 48.
        channels: channels per level, finest first (at least 2). Defaults to (32, 64, 128, 256).
        num_res_units: convolutions per residual unit. Defaults to 2.
        embedding_dim: width of the per-entry structural embedding. Defaults to 512 (ESM-IF1's).
        embedding_tokens: structure tokens the bottleneck attends to. Defaults to 4.
        bottleneck_depth: transformer decoder layers in the bottleneck. Defaults to 2.
        num_heads: attention heads, dividing ``channels[-1]``. Defaults to 8.
        mlp_dim: feed-forward width of the bottleneck layers. Defaults to 512.
        embedding_dropout: probability, in training, of dropping a box's embedding. Defaults to 0.1.
        dropout_rate: dropout in every unit and attention layer. Defaults to 0.0.
        norm: normalisation of the convolution units. Defaults to ``"instance"``.
        act: activation of the convolution units. Defaults to ``"prelu"``.
        residual: output = input + a learned change gated by a scale that starts at 0 (the
            untrained network is the identity); needs ``out_channels == in_channels``. Defaults to False.

    Example:
        >>> model = CryoSAMUModel(img_size=16, channels=(4, 8), embedding_dim=6, num_heads=2, mlp_dim=8).eval()
        >>> tuple(model(torch.zeros(1, 1, 16, 16, 16))["output"].shape)
        (1, 1, 16, 16, 16)
        >>> tuple(model(torch.zeros(1, 1, 16, 16, 16), embedding=torch.zeros(1, 6))["output"].shape)
        (1, 1, 16, 16, 16)
    """

    heads: tuple[str, ...] = ("output",)

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        img_size: int = 48,
        channels: Sequence[int] = (32, 64, 128, 256),
        num_res_units: int = 2,
        embedding_dim: int = 512,
        embedding_tokens: int = 4,
        bottleneck_depth: int = 2,
        num_heads: int = 8,
        mlp_dim: int = 512,
        embedding_dropout: float = 0.1,
        dropout_rate: float = 0.0,
        norm: LayerSpec = "instance",
        act: LayerSpec = "prelu",
        residual: bool = False,
    ) -> None:
        check_cryosamu(
            in_channels=in_channels,
            out_channels=out_channels,
            img_size=img_size,
            channels=channels,
            num_res_units=num_res_units,
            embedding_dim=embedding_dim,
            embedding_tokens=embedding_tokens,
            bottleneck_depth=bottleneck_depth,
            num_heads=num_heads,
            mlp_dim=mlp_dim,
            embedding_dropout=embedding_dropout,
            dropout_rate=dropout_rate,
            norm=norm,
            act=act,
            residual=residual,
        )
        super().__init__()
        self.in_channels = in_channels
        self.embedding_dim = embedding_dim
        self.embedding_dropout = embedding_dropout
        self.downsampling = 2 ** (len(channels) - 1)
        self.out_channels_by_head = {"output": out_channels}
        width = channels[-1]
        layers = {"act": act, "norm": norm, "dropout": dropout_rate or None}
        self.encoder = residual_unet.down_levels(in_channels, channels, num_res_units, layers)
        self.structure_projection = nn.Sequential(
            nn.LayerNorm(embedding_dim), nn.Linear(embedding_dim, embedding_tokens * width)
        )
        self.no_structure = nn.Parameter(torch.randn(embedding_tokens, width) * 0.02)
        self.bottleneck = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(
                width, num_heads, dim_feedforward=mlp_dim, dropout=dropout_rate, batch_first=True, norm_first=True
            ),
            num_layers=bottleneck_depth,
            norm=nn.LayerNorm(width),
        )
        self.up, self.decoder = residual_unet.up_levels(channels, num_res_units, layers)
        self.modulation = nn.Linear(width, 2 * channels[0])
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)
        self.head = nn.Conv3d(channels[0], out_channels, kernel_size=1)
        self.residual_scale = nn.Parameter(torch.zeros(1)) if residual else None

    def structure_tokens(self, batch: int, embedding: torch.Tensor | None) -> torch.Tensor:
        """``(B, embedding_tokens, channels[-1])``: the projected embedding, or the "no structure" tokens."""
        empty = self.no_structure.expand(batch, -1, -1)
        if embedding is None:
            return empty
        tokens = self.structure_projection(embedding).reshape(empty.shape)
        if self.training and self.embedding_dropout > 0:
            dropped = torch.rand(batch, 1, 1, device=tokens.device) < self.embedding_dropout
            tokens = torch.where(dropped, empty, tokens)
        return tokens

    def fuse(self, features: torch.Tensor, structure: torch.Tensor) -> torch.Tensor:
        """The bottleneck feature map after attending to ``structure`` tokens; same shape as ``features``."""
        tokens = features.flatten(2).transpose(1, 2)  # (B, N, C)
        fused = self.bottleneck(tokens, structure.to(tokens.dtype))
        return fused.transpose(1, 2).reshape(features.shape)

    def modulate(self, decoded: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
        """``decoded`` scaled and shifted per box and channel by the mean of the fused bottleneck."""
        scale, shift = self.modulation(fused.flatten(2).mean(dim=2)).chunk(2, dim=1)
        return decoded * (1 + scale[:, :, None, None, None]) + shift[:, :, None, None, None]

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The enhanced map of each box; ``embedding`` is ``(B, embedding_dim)`` or None (no structure)."""
        check_input(x.shape, in_channels=self.in_channels, multiple_of=self.downsampling)
        if embedding is not None and tuple(embedding.shape) != (x.shape[0], self.embedding_dim):
            raise ValueError(
                f"`embedding` must have shape ({x.shape[0]}, {self.embedding_dim}), got {tuple(embedding.shape)}."
            )
        features = residual_unet.encode(self.encoder, x)
        features[-1] = self.fuse(features[-1], self.structure_tokens(x.shape[0], embedding))
        decoded = residual_unet.decode(self.up, self.decoder, features)
        out = self.head(self.modulate(decoded, features[-1]))
        if self.residual_scale is not None:
            out = x + self.residual_scale * out
        return {"output": out}
