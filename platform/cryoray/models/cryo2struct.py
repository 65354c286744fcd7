"""Cryo2Struct's Transformer U-Net, layer for layer, so its published checkpoints load as they are."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from monai.networks.layers.utils import get_norm_layer
from torch import nn

from cryoray.models.checks import CRYO2STRUCT_PATCH_SIZE, LayerSpec, check_cryo2struct, check_input

__all__ = ["Cryo2StructModel", "cryo2struct_kwargs_from_checkpoint"]

# MONAI's ViT blocks (PatchEmbeddingBlock, SABlock, TransformerBlock) and decoder blocks
# (UnetResBlock, UnetrUpBlock) compute nearly the same things but cannot stand in here: their
# parameters have other names (``qkv``/``out_proj``, ``conv1.conv``, ...), SABlock splits the fused
# projection in (qkv heads dim) order where Cryo2Struct splits it in (dim qkv heads) order, and
# UnetResBlock's convolutions have no bias where Cryo2Struct's have one. So the layers below are
# written out with the published tensor names; only the decoder's normalisation comes from MONAI.


class _PositionEmbedding(nn.Module):
    """A learned absolute position embedding added to the tokens (parameter ``abs_pos_enc``)."""

    def __init__(self, tokens: int, dim: int) -> None:
        super().__init__()
        self.abs_pos_enc = nn.Parameter(torch.empty(1, tokens, dim))
        nn.init.trunc_normal_(self.abs_pos_enc, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.abs_pos_enc


class _Embeddings(nn.Module):
    """Patches to tokens: a strided convolution without bias, position embedding, dropout."""

    def __init__(self, in_channels: int, embed_dim: int, img_size: int, patch_size: int, dropout_rate: float) -> None:
        super().__init__()
        self.patch_embeddings = nn.Conv3d(in_channels, embed_dim, patch_size, stride=patch_size, bias=False)
        self.position_embeddings = _PositionEmbedding((img_size // patch_size) ** 3, embed_dim)
        self.dropout = nn.Dropout(dropout_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, E, X, Y, Z) -> (B, X·Y·Z, E), tokens in (x y z) order
        tokens = self.patch_embeddings(x).flatten(2).transpose(1, 2)
        return self.dropout(self.position_embeddings(tokens))


class _SelfAttention(nn.Module):
    """Multi-head self-attention with one fused bias-free projection ``to_qvk`` and output ``W_0``.

    The fused projection's 3·E outputs are laid out as (head dim, q/k/v, head), head fastest —
    einops' ``"b t (d k h) -> k b h t d"`` — which the published reference output pins down. Scores
    are scaled by 1/sqrt(head dim); no dropout on the attention weights.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.to_qvk = nn.Linear(dim, 3 * dim, bias=False)
        self.W_0 = nn.Linear(dim, dim, bias=False)  # the published tensor name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        head_dim = dim // self.num_heads
        qkv = self.to_qvk(x).view(batch, tokens, head_dim, 3, self.num_heads).permute(3, 0, 4, 1, 2)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (B, heads, T, head dim)
        return self.W_0(out.transpose(1, 2).reshape(batch, tokens, dim))


class _TransformerBlock(nn.Module):
    """Pre-norm block: ``x + drop(attn(norm_1(x)))``, then ``y + mlp(norm_2(y))``.

    The MLP is Linear, GELU, Dropout, Linear, Dropout (the published ``linear.0`` / ``linear.3``).
    """

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, dropout_rate: float) -> None:
        super().__init__()
        self.mhsa = _SelfAttention(dim, num_heads)
        self.drop = nn.Dropout(dropout_rate)
        self.norm_1 = nn.LayerNorm(dim)
        self.norm_2 = nn.LayerNorm(dim)
        self.linear = nn.Sequential(
            nn.Linear(dim, mlp_dim),
            nn.GELU(),
            nn.Dropout(dropout_rate),
            nn.Linear(mlp_dim, dim),
            nn.Dropout(dropout_rate),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x + self.drop(self.mhsa(self.norm_1(x)))
        return y + self.linear(self.norm_2(y))


class _TransformerEncoder(nn.Module):
    """``num_layers`` blocks; returns the tokens after each layer in ``ext_layers`` (1-based)."""

    def __init__(
        self, dim: int, num_heads: int, num_layers: int, ext_layers: Sequence[int], mlp_dim: int, dropout_rate: float
    ) -> None:
        super().__init__()
        self.ext_layers = tuple(ext_layers)
        self.block_list = nn.ModuleList(
            _TransformerBlock(dim, num_heads, mlp_dim, dropout_rate) for _ in range(num_layers)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        extracted = []
        for depth, block in enumerate(self.block_list, start=1):
            x = block(x)
            if depth in self.ext_layers:
                extracted.append(x)
        return extracted


class _ResidualConvBlock(nn.Module):
    """conv3-norm-LeakyReLU-conv3-norm plus a residual (1×1×1 conv-norm where channels change), LeakyReLU.

    Convolutions have biases; LeakyReLU slope 0.01; ``norm`` is a MONAI norm name (``"instance"``:
    InstanceNorm3d without affine parameters, as published).
    """

    def __init__(self, in_channels: int, out_channels: int, norm: LayerSpec) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.Conv3d(in_channels, out_channels, 3, padding=1),
            get_norm_layer(norm, spatial_dims=3, channels=out_channels),
            nn.LeakyReLU(0.01),
            nn.Conv3d(out_channels, out_channels, 3, padding=1),
            get_norm_layer(norm, spatial_dims=3, channels=out_channels),
        )
        self.conv_down: nn.Module = nn.Identity()
        if in_channels != out_channels:
            self.conv_down = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1),
                get_norm_layer(norm, spatial_dims=3, channels=out_channels),
            )
        self.final_activation = nn.LeakyReLU(0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_activation(self.conv_block(x) + self.conv_down(x))


class _Deconv(nn.Module):
    """A bias-free 2×2×2 transposed convolution of stride 2 (doubles the side); parameter ``block``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.block = nn.ConvTranspose3d(in_channels, out_channels, 2, stride=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class _BlueBlock(nn.Module):
    """``layers`` deconvolutions in a row, nothing between them (UNETR's "blue" skip path)."""

    def __init__(self, in_channels: int, out_channels: int, layers: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            _Deconv(in_channels if i == 0 else out_channels, out_channels) for i in range(layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class Cryo2StructModel(nn.Module):
    """Cryo2Struct's Transformer U-Net (Giri & Cheng 2024), with the published parameter names.

    Giri & Cheng, "De novo atomic protein structure modeling for cryoEM density maps using 3D
    transformer and HMM", Nature Communications 2024; J. Giri's dissertation, Fig. 4.6. A UNETR
    (Hatamizadeh et al. 2022) as the ``self-attention-cv`` package builds it: 16³ patches embedded by
    a strided convolution plus a learned absolute position embedding; ``num_layers`` pre-norm
    transformer blocks (fused ``to_qvk`` projection, GELU MLP); the tokens after the layers in
    ``ext_layers`` reshaped to 3D and brought up by bias-free transposed convolutions (3, 2 and 1
    of them, and 1 for the last), joined by residual conv blocks (instance norm, LeakyReLU 0.01)
    with a conv block on the input, and a 1×1×1 convolution to the class logits. Its
    ``state_dict`` names are those of Cryo2Struct's checkpoints without their ``model.`` prefix, so
    ``atom_type.ckpt`` and ``amino_acid_type.ckpt`` load with ``strict=True``.

    Published configuration: 32³ boxes, patch 16, width 768, 12 heads, 12 layers, skips from
    layers 3/6/9/12, 16 base filters, MLP 3072, instance norm; 92,281,604 parameters with 4
    classes (atoms: Cα, N, C, none) and 92,281,893 with 21 (amino acids), the dissertation's counts.

    Unlike ``unetr`` (MONAI's UNETR, 92,624,132 parameters), the patch embedding has no bias and no
    final LayerNorm follows the transformer, the fused projection is split in another order, the
    skip paths are bare transposed convolutions (no conv blocks between them), and the decoder's
    conv blocks are residual with biased convolutions. Takes ``(B, in_channels, D, H, W)`` with sides
    ``img_size`` (the position embedding fixes the size); returns ``{"output": logits}`` (no
    softmax) at full resolution.

    Args:
        in_channels: input channels. Defaults to 1.
        out_channels: classes. Defaults to 4 (21 for the amino-acid model).
        img_size: box side, a multiple of ``patch_size``. Defaults to 32.
        patch_size: patch side; the decoder's four doublings need 16. Defaults to 16.
        embed_dim: transformer width. Defaults to 768.
        num_heads: attention heads, dividing ``embed_dim``. Defaults to 12.
        num_layers: transformer blocks. Defaults to 12.
        ext_layers: the four layers (1-based, increasing, the last ``num_layers``) feeding the
            skips. Defaults to (3, 6, 9, 12).
        base_filters: channels of the full-resolution decoder level (doubling per level below).
            Defaults to 16.
        mlp_dim: transformer MLP width. Defaults to 3072.
        dropout_rate: transformer dropout (embedding, attention output, MLP). Defaults to 0.0, the
            released checkpoints' setting (the dissertation's training text says 0.1).
        norm: decoder normalisation, a MONAI norm name. Defaults to ``"instance"``.
    """

    heads: tuple[str, ...] = ("output",)

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 4,
        img_size: int = 32,
        patch_size: int = CRYO2STRUCT_PATCH_SIZE,
        embed_dim: int = 768,
        num_heads: int = 12,
        num_layers: int = 12,
        ext_layers: Sequence[int] = (3, 6, 9, 12),
        base_filters: int = 16,
        mlp_dim: int = 3072,
        dropout_rate: float = 0.0,
        norm: LayerSpec = "instance",
    ) -> None:
        check_cryo2struct(
            in_channels=in_channels,
            out_channels=out_channels,
            img_size=img_size,
            patch_size=patch_size,
            embed_dim=embed_dim,
            num_heads=num_heads,
            num_layers=num_layers,
            ext_layers=ext_layers,
            base_filters=base_filters,
            mlp_dim=mlp_dim,
            dropout_rate=dropout_rate,
            norm=norm,
        )
        super().__init__()
        self.in_channels = in_channels
        self.img_size = img_size
        self.out_channels_by_head = {"output": out_channels}
        self.grid = img_size // patch_size
        f = base_filters
        self.embed = _Embeddings(in_channels, embed_dim, img_size, patch_size, dropout_rate)
        self.transformer = _TransformerEncoder(embed_dim, num_heads, num_layers, ext_layers, mlp_dim, dropout_rate)
        self.init_conv = _ResidualConvBlock(in_channels, f, norm)
        self.z3_blue_conv = _BlueBlock(embed_dim, f * 2, layers=3)
        self.z6_blue_conv = _BlueBlock(embed_dim, f * 4, layers=2)
        self.z9_blue_conv = _BlueBlock(embed_dim, f * 8, layers=1)
        self.z12_deconv = _Deconv(embed_dim, f * 8)
        self.z9_deconv = _Deconv(f * 8, f * 4)
        self.z6_deconv = _Deconv(f * 4, f * 2)
        self.z3_deconv = _Deconv(f * 2, f)
        self.z9_conv = _ResidualConvBlock(f * 16, f * 8, norm)
        self.z6_conv = _ResidualConvBlock(f * 8, f * 4, norm)
        self.z3_conv = _ResidualConvBlock(f * 4, f * 2, norm)
        self.out_conv = nn.Sequential(_ResidualConvBlock(f * 2, f, norm), nn.Conv3d(f, out_channels, 1))

    def _volume(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, X·Y·Z, E)`` back to ``(B, E, X, Y, Z)``."""
        g = self.grid
        return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], g, g, g)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits ``(B, out_channels, D, H, W)`` for a batch of ``img_size``³ boxes."""
        check_input(x.shape, in_channels=self.in_channels, side=self.img_size)
        z3, z6, z9, z12 = map(self._volume, self.transformer(self.embed(x)))
        y = self.z9_conv(torch.cat([self.z12_deconv(z12), self.z9_blue_conv(z9)], dim=1))
        y = self.z6_conv(torch.cat([self.z9_deconv(y), self.z6_blue_conv(z6)], dim=1))
        y = self.z3_conv(torch.cat([self.z6_deconv(y), self.z3_blue_conv(z3)], dim=1))
        y = torch.cat([self.z3_deconv(y), self.init_conv(x)], dim=1)
        return {"output": self.out_conv(y)}


#: Cryo2Struct's keyword arguments (its checkpoints' ``hyper_parameters``) -> this class's arguments.
_HPARAM_NAMES = {
    "input_dim": "in_channels",
    "output_dim": "out_channels",
    "img_shape": "img_size",
    "patch_size": "patch_size",
    "embed_dim": "embed_dim",
    "num_heads": "num_heads",
    "num_layers": "num_layers",
    "ext_layers": "ext_layers",
    "base_filters": "base_filters",
    "dim_linear_block": "mlp_dim",
    "dropout": "dropout_rate",
    "norm": "norm",
}


def _shape(state: Mapping[str, Any], name: str) -> tuple[int, ...]:
    if name not in state:
        raise ValueError(f"the checkpoint has no tensor `{name}`; is it a Cryo2Struct checkpoint?")
    return tuple(state[name].shape)


def _from_shapes(state: Mapping[str, Any]) -> dict[str, Any]:
    """The settings the tensor shapes determine."""
    embed_dim, in_channels, *patch = _shape(state, "embed.patch_embeddings.weight")
    if len(set(patch)) != 1:
        raise ValueError(f"the patch embedding kernel must be a cube, got {tuple(patch)}.")
    tokens = _shape(state, "embed.position_embeddings.abs_pos_enc")[1]
    grid = round(tokens ** (1 / 3))
    if grid**3 != tokens:
        raise ValueError(f"the position embedding has {tokens} tokens, not a cube number.")
    layers = {int(m.group(1)) for key in state if (m := re.match(r"transformer\.block_list\.(\d+)\.", key))}
    if not layers:
        raise ValueError("the checkpoint has no tensors `transformer.block_list.*`.")
    return {
        "in_channels": in_channels,
        "out_channels": _shape(state, "out_conv.1.weight")[0],
        "img_size": patch[0] * grid,
        "patch_size": patch[0],
        "embed_dim": embed_dim,
        "num_layers": max(layers) + 1,
        "base_filters": _shape(state, "init_conv.conv_block.0.weight")[0],
        "mlp_dim": _shape(state, "transformer.block_list.0.linear.0.weight")[0],
        # affine normalisation (batch norm) has weights after the first convolution; instance norm none
        "norm": "batch" if "init_conv.conv_block.1.weight" in state else "instance",
    }


def _setting(key: str, value: Any) -> Any:
    """A hyper-parameter value in this class's terms."""
    if key == "img_shape":
        sides = (value,) * 3 if isinstance(value, int) else tuple(value)
        if len(sides) != 3 or len(set(sides)) != 1:
            raise ValueError(f"`img_shape` must be a cube (three equal sides), got {value!r}.")
        return int(sides[0])
    if key == "ext_layers":
        return tuple(int(v) for v in value)
    if key == "norm":
        # Cryo2Struct's code takes "batch" as batch norm and anything else as instance norm
        if value not in ("instance", "batch"):
            raise ValueError(f"unknown Cryo2Struct `norm` {value!r}; expected 'instance' or 'batch'.")
        return value
    if key == "dropout":
        return float(value)
    return int(value)


def cryo2struct_kwargs_from_checkpoint(hyper_parameters: Mapping[str, Any] | None, state: Mapping[str, Any]) -> dict:
    """:class:`Cryo2StructModel` arguments for a Cryo2Struct checkpoint.

    ``hyper_parameters`` is the checkpoint's (Cryo2Struct's keyword arguments plus training keys
    such as ``learning_rate``, which are ignored); ``state`` its ``state_dict``, with or without
    the ``model.`` prefix. Settings absent from ``hyper_parameters`` are read off the tensor
    shapes; ``num_heads`` and ``ext_layers`` leave no trace in the shapes and must be given;
    ``dropout_rate`` is 0 when absent (it does not change the output in eval mode).

    Raises:
        ValueError: a setting with a value the network cannot take, a setting contradicting the
            tensor shapes, or tensors missing from, unexpected in, or of another shape than in
            the network so described.
    """
    if state and all(key.startswith("model.") for key in state):
        state = {key.removeprefix("model."): value for key, value in state.items()}
    kwargs: dict[str, Any] = {"dropout_rate": 0.0, **_from_shapes(state)}
    for key, value in (hyper_parameters or {}).items():
        if key not in _HPARAM_NAMES:
            continue  # a training setting (learning_rate, ...)
        name, given = _HPARAM_NAMES[key], _setting(key, value)
        if name in kwargs and name != "dropout_rate" and kwargs[name] != given:
            raise ValueError(
                f"hyper-parameter `{key}` is {value!r} but the tensor shapes give `{name}` = {kwargs[name]!r}."
            )
        kwargs[name] = given
    for name in ("num_heads", "ext_layers"):
        if name not in kwargs:
            raise ValueError(
                f"`{name}` is not among the checkpoint's hyper-parameters and the tensor shapes do not fix it."
            )
    with torch.device("meta"):
        expected = {key: tuple(t.shape) for key, t in Cryo2StructModel(**kwargs).state_dict().items()}
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    if missing or unexpected:
        raise ValueError(
            f"the checkpoint's tensors do not fit a Cryo2Struct network with {kwargs}: "
            f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}."
        )
    wrong = [
        f"{key} {tuple(state[key].shape)} (expected {shape})"
        for key, shape in expected.items()
        if tuple(state[key].shape) != shape
    ]
    if wrong:
        raise ValueError(f"tensors of the wrong shape for a Cryo2Struct network with {kwargs}: {', '.join(wrong[:5])}.")
    return kwargs
