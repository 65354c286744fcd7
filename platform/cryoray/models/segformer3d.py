"""SegFormer3D with an atom head and an amino-acid head (Cryo2Struct2's classifier).

Written here from the papers because MONAI has no SegFormer; MONAI's ``Conv`` factory and
``Convolution`` block are used for the convolutions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from monai.networks.layers import Conv
from torch import nn

from cryoray.models.checks import check_input, check_segformer3d

__all__ = ["AllMLPDecoder", "EfficientSelfAttention", "MixFFN", "MixTransformerBlock", "SegFormer3DModel"]


class EfficientSelfAttention(nn.Module):
    """Multi-head self-attention whose keys and values come from a grid shrunk by ``sr_ratio``.

    A strided conv (+ layer norm) reduces the grid before the key/value projection, so attention
    costs ``O(N² / sr_ratio³)`` (Xie et al., SegFormer, NeurIPS 2021). Tokens are ``(B, N, C)``.

    Args:
        dim: token width, divisible by ``num_heads``.
        num_heads: attention heads.
        sr_ratio: spatial reduction of the key/value grid (1: none).
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.query = nn.Linear(dim, dim)
        self.key_value = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.reduce: nn.Module | None = None
        if sr_ratio > 1:
            self.reduce = Conv[Conv.CONV, 3](dim, dim, kernel_size=sr_ratio, stride=sr_ratio)
            self.reduce_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """Attend over tokens ``(B, N, C)`` laid out on ``grid`` (D, H, W)."""
        b, n, c = x.shape
        context = x
        if self.reduce is not None:
            reduced = self.reduce(x.transpose(1, 2).reshape(b, c, *grid))
            context = self.reduce_norm(reduced.flatten(2).transpose(1, 2))
        q = self.query(x).reshape(b, n, self.num_heads, -1).transpose(1, 2)
        k, v = self.key_value(context).reshape(b, -1, 2, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class MixFFN(nn.Module):
    """Mix-FFN: linear, 3×3×3 depthwise conv (+ batch norm), GELU, linear; the conv gives position cues.

    Args:
        dim: token width.
        hidden_dim: expanded width.
    """

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.dwconv = nn.Sequential(
            Conv[Conv.CONV, 3](hidden_dim, hidden_dim, kernel_size=3, padding=1, groups=hidden_dim),
            nn.BatchNorm3d(hidden_dim),
        )
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """Transform tokens ``(B, N, C)`` laid out on ``grid``."""
        h = self.fc1(x).transpose(1, 2)
        h = self.dwconv(h.reshape(*h.shape[:2], *grid)).flatten(2).transpose(1, 2)
        return self.fc2(F.gelu(h))


class MixTransformerBlock(nn.Module):
    """Pre-norm transformer block: efficient self-attention and Mix-FFN, each residual.

    Args:
        dim: token width.
        num_heads: attention heads.
        sr_ratio: key/value spatial reduction.
        mlp_ratio: Mix-FFN expansion.
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = EfficientSelfAttention(dim, num_heads, sr_ratio)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = MixFFN(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """Transform tokens ``(B, N, C)`` laid out on ``grid``."""
        x = x + self.attention(self.norm1(x), grid)
        return x + self.ffn(self.norm2(x), grid)


class _Stage(nn.Module):
    """Overlapping patch embedding (strided conv + layer norm), transformer blocks, layer norm."""

    def __init__(
        self,
        in_channels: int,
        dim: int,
        kernel_size: int,
        stride: int,
        num_heads: int,
        sr_ratio: int,
        mlp_ratio: int,
        depth: int,
    ) -> None:
        super().__init__()
        self.embed = Conv[Conv.CONV, 3](
            in_channels, dim, kernel_size=kernel_size, stride=stride, padding=kernel_size // 2
        )
        self.embed_norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(MixTransformerBlock(dim, num_heads, sr_ratio, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, sequence: torch.Tensor | None) -> torch.Tensor:
        """Downsample ``(B, C_in, D, H, W)`` to this stage's grid; ``sequence`` (B, dim) is added to every token."""
        x = self.embed(x)
        grid = (x.shape[2], x.shape[3], x.shape[4])
        tokens = self.embed_norm(x.flatten(2).transpose(1, 2))
        if sequence is not None:
            tokens = tokens + sequence[:, None, :]
        for block in self.blocks:
            tokens = block(tokens, grid)
        return self.norm(tokens).transpose(1, 2).reshape(x.shape)


class AllMLPDecoder(nn.Module):
    """SegFormer's all-MLP head: per-stage linear maps to one width, upsampled to the finest stage, fused.

    The per-voxel linear maps are written as 1×1×1 convs (the same weights, no reshaping).

    The fused features (after a 1×1×1 conv, batch norm, ReLU) are returned with the logits so a
    later head can read them; ``extra_channels`` are such features from another head,
    concatenated before the fusion.

    Args:
        in_dims: channels of each encoder stage, finest first.
        decoder_dim: common width.
        num_classes: logits per voxel.
        dropout_rate: dropout before the classifier.
        extra_channels: channels of the extra features at the finest stage's grid. Defaults to 0.
    """

    def __init__(
        self, in_dims: Sequence[int], decoder_dim: int, num_classes: int, dropout_rate: float, extra_channels: int = 0
    ) -> None:
        super().__init__()
        self.linears = nn.ModuleList(Conv[Conv.CONV, 3](dim, decoder_dim, kernel_size=1) for dim in in_dims)
        self.fuse = Convolution(
            3,
            len(in_dims) * decoder_dim + extra_channels,
            decoder_dim,
            kernel_size=1,
            act="relu",
            norm="batch",
            bias=False,
        )
        self.dropout = nn.Dropout(dropout_rate)
        self.classify = Conv[Conv.CONV, 3](decoder_dim, num_classes, kernel_size=1)

    def forward(
        self, features: Sequence[torch.Tensor], extra: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and fused features, both on the grid of ``features[0]``."""
        size = features[0].shape[2:]
        maps = [
            F.interpolate(linear(feature), size=size, mode="trilinear", align_corners=False)
            for linear, feature in zip(self.linears, features, strict=True)
        ]
        if extra is not None:
            maps.append(extra)
        fused = self.fuse(torch.cat(maps, dim=1))
        return self.classify(self.dropout(fused)), fused


class SegFormer3DModel(nn.Module):
    """SegFormer3D encoder with an atom head and an amino-acid head that reads the atom head.

    Perera, Navard & Yilmaz, "SegFormer3D: an Efficient Transformer for 3D Medical Image
    Segmentation", CVPR Workshops 2024, https://arxiv.org/abs/2404.10156; the two heads and the
    sequence embedding are Cryo2Struct2's (N. Giri, PhD dissertation, University of Missouri,
    2025, chapter 5). Four stages of overlapping patch embedding and Mix-Transformer blocks feed
    two all-MLP decoders; the amino-acid decoder also reads the atom decoder's fused (pre-logit)
    features. Logits are upsampled trilinearly to the input grid. An optional per-structure
    sequence embedding ``(B, seq_embedding_dim)``, e.g. an ESM-2 vector, is mapped by one linear
    layer per stage and added to every token of that stage after its patch embedding.

    3D only. Takes ``(B, in_channels, D, H, W)`` with sides multiples of the total stride;
    returns ``{"atom": (B, atom_classes, D, H, W), "amino_acid": (B, amino_classes, D, H, W)}``
    logits. The Mix-FFN batch norm needs more than one value per channel in training: with 32³
    boxes the last stage is 1³, so train with batches of 2 or more. With ``seq_embedding_dim``
    set, the projections get gradients only from calls that pass an embedding, so under DDP
    every step must pass one.

    With Cryo2Struct2's configuration this has 12,886,777 parameters (14,198,009 with a 2560-d
    sequence embedding); no count is published. As a check of the blocks, SegFormer3D's own
    configuration (depths 2, one head, 4 input channels, 3 classes) counts 4,523,203 here
    against the 4.5 M of its paper.

    Args:
        in_channels: input channels. Defaults to 1.
        atom_classes: atom-head classes. Defaults to 4.
        amino_classes: amino-acid-head classes. Defaults to 21.
        img_size: box side used in training, checked against the strides and reduction ratios;
            the network takes any side that is a multiple of the total stride. Defaults to 32.
        embed_dims: channels per stage. Defaults to (32, 64, 160, 256).
        num_heads: attention heads per stage. Defaults to (4, 8, 16, 32).
        depths: blocks per stage. Defaults to (8, 8, 8, 8).
        sr_ratios: key/value spatial reduction per stage. Defaults to (4, 2, 1, 1).
        patch_kernel_sizes: patch-embedding kernels (odd). Defaults to (7, 3, 3, 3).
        patch_strides: patch-embedding strides. Defaults to (4, 2, 2, 2).
        mlp_ratio: Mix-FFN expansion. Defaults to 4.
        decoder_dim: decoder width. Defaults to 256.
        dropout_rate: dropout before each classifier. Defaults to 0.1.
        seq_embedding_dim: sequence-embedding width, or None for no embedding input. Defaults to None.
    """

    heads: tuple[str, ...] = ("atom", "amino_acid")

    def __init__(
        self,
        in_channels: int = 1,
        atom_classes: int = 4,
        amino_classes: int = 21,
        img_size: int = 32,
        embed_dims: Sequence[int] = (32, 64, 160, 256),
        num_heads: Sequence[int] = (4, 8, 16, 32),
        depths: Sequence[int] = (8, 8, 8, 8),
        sr_ratios: Sequence[int] = (4, 2, 1, 1),
        patch_kernel_sizes: Sequence[int] = (7, 3, 3, 3),
        patch_strides: Sequence[int] = (4, 2, 2, 2),
        mlp_ratio: int = 4,
        decoder_dim: int = 256,
        dropout_rate: float = 0.1,
        seq_embedding_dim: int | None = None,
    ) -> None:
        check_segformer3d(
            in_channels=in_channels,
            atom_classes=atom_classes,
            amino_classes=amino_classes,
            img_size=img_size,
            embed_dims=embed_dims,
            num_heads=num_heads,
            depths=depths,
            sr_ratios=sr_ratios,
            patch_kernel_sizes=patch_kernel_sizes,
            patch_strides=patch_strides,
            mlp_ratio=mlp_ratio,
            decoder_dim=decoder_dim,
            dropout_rate=dropout_rate,
            seq_embedding_dim=seq_embedding_dim,
        )
        super().__init__()
        self.in_channels = in_channels
        self.seq_embedding_dim = seq_embedding_dim
        self.downsampling = math.prod(patch_strides)
        self.out_channels_by_head = {"atom": atom_classes, "amino_acid": amino_classes}
        self.stages = nn.ModuleList(
            _Stage(c_in, dim, kernel, stride, heads, ratio, mlp_ratio, depth)
            for c_in, dim, kernel, stride, heads, ratio, depth in zip(
                (in_channels, *embed_dims[:-1]),
                embed_dims,
                patch_kernel_sizes,
                patch_strides,
                num_heads,
                sr_ratios,
                depths,
                strict=True,
            )
        )
        self.sequence_projections = (
            None
            if seq_embedding_dim is None
            else nn.ModuleList(nn.Linear(seq_embedding_dim, dim) for dim in embed_dims)
        )
        self.atom_head = AllMLPDecoder(embed_dims, decoder_dim, atom_classes, dropout_rate)
        self.amino_head = AllMLPDecoder(
            embed_dims, decoder_dim, amino_classes, dropout_rate, extra_channels=decoder_dim
        )

    def encode(self, x: torch.Tensor, embedding: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The feature map of every stage, finest first, with the embedding added when given."""
        features = []
        for i, stage in enumerate(self.stages):
            sequence = None if embedding is None else self.sequence_projections[i](embedding)
            x = stage(x, sequence)
            features.append(x)
        return features

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Atom and amino-acid logits on the grid of ``x``; ``embedding`` is (B, ``seq_embedding_dim``) or None."""
        check_input(x.shape, in_channels=self.in_channels, multiple_of=self.downsampling)
        if embedding is not None:
            if self.seq_embedding_dim is None:
                raise ValueError("`embedding` given, but this network was built with `seq_embedding_dim` None.")
            if tuple(embedding.shape) != (x.shape[0], self.seq_embedding_dim):
                raise ValueError(
                    f"`embedding` must have shape ({x.shape[0]}, {self.seq_embedding_dim}), "
                    f"got {tuple(embedding.shape)}."
                )
        features = self.encode(x, embedding)
        atom, atom_features = self.atom_head(features)
        amino_acid, _ = self.amino_head(features, extra=atom_features)
        size = x.shape[2:]
        return {
            "atom": F.interpolate(atom, size=size, mode="trilinear", align_corners=False),
            "amino_acid": F.interpolate(amino_acid, size=size, mode="trilinear", align_corners=False),
        }
