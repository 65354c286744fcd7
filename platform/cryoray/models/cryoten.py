"""CryoTEN's map enhancer, laid out exactly like its published checkpoint.

Written here from the papers and checked against a checkpoint and an output made by CryoTEN's
own network code (``shared/reference/published_networks``). MONAI has neither UNETR++ nor its
efficient paired attention, so the attention block and the encoder/decoder wiring are written
here; MONAI's ``UnetResBlock``, ``UnetOutBlock`` and ``get_conv_layer`` give the convolution
layers exactly (same layers, same parameter names).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from monai.networks.blocks import UnetOutBlock, UnetResBlock
from monai.networks.blocks.dynunet_block import get_conv_layer
from torch import nn

from cryoray.models.checks import LayerSpec, check_cryoten, check_input

__all__ = ["CryoTENAttention", "CryoTENBlock", "CryoTENModel", "cryoten_kwargs_from_state_dict"]


def _trunc_normal(*shape: int) -> torch.Tensor:
    return nn.init.trunc_normal_(torch.empty(*shape), std=0.02)


class CryoTENAttention(nn.Module):
    """CryoTEN's efficient paired attention (EPA): spatial and channel attention sharing q and k.

    After Shaker et al., "UNETR++", IEEE TMI 2024, https://doi.org/10.1109/TMI.2024.3398728, as
    CryoTEN's checkpoint and reference output pin it down (it differs from :mod:`unetrpp`'s EPA):

    - one bias-free linear layer gives, per head, queries, keys, channel values and spatial
      values, in that order;
    - the spatial branch projects the *unnormalised* keys and the spatial values along the token
      axis with one shared bias-free matrix ``EF`` (``num_tokens × proj_size``), then attends
      from the L2-normalised queries, scaled by ``temperature2``;
    - the channel branch attends between the L2-normalised queries and keys (``C/h × C/h`` per
      head), scaled by ``temperature``;
    - the two branch outputs are **summed** (full width each, no output projections).

    The spatial output ``(B, h, N, C/h)`` goes back to tokens by permuting to ``(B, C/h, h, N)``
    and reshaping to ``(B, N, C)``, which mixes token and channel positions; UNETR++ does this,
    and the trained weights expect it. Tokens are ``(B, N, C)``.

    Args:
        hidden_size: token width ``C``, divisible by ``num_heads``.
        num_tokens: tokens ``N`` per sample (fixed: ``EF`` is a map over them).
        proj_size: tokens the spatial keys and values are projected to.
        num_heads: attention heads.
        dropout_rate: dropout on both attention maps.
    """

    def __init__(self, hidden_size: int, num_tokens: int, proj_size: int, num_heads: int, dropout_rate: float) -> None:
        if hidden_size % num_heads:
            raise ValueError(f"`hidden_size` ({hidden_size}) must be divisible by `num_heads` ({num_heads}).")
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.temperature2 = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.EF = nn.Parameter(_trunc_normal(num_tokens, proj_size))
        self.qkvv = nn.Linear(hidden_size, 4 * hidden_size, bias=False)
        nn.init.trunc_normal_(self.qkvv.weight, std=0.02)
        self.attn_drop = nn.Dropout(dropout_rate)
        self.attn_drop_2 = nn.Dropout(dropout_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over tokens ``(B, N, C)``; returns ``(B, N, C)``."""
        b, n, c = x.shape
        # four (B, heads, C/heads, N) tensors
        q, k, v_channel, v_spatial = (
            self.qkvv(x).reshape(b, n, 4, self.num_heads, c // self.num_heads).permute(2, 0, 3, 4, 1)
        )
        k_proj, v_proj = k @ self.EF, v_spatial @ self.EF  # (B, heads, C/heads, proj)
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)

        channel_attn = self.attn_drop(((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1))
        x_channel = (channel_attn @ v_channel).permute(0, 3, 1, 2).reshape(b, n, c)

        spatial_attn = self.attn_drop_2(((q.transpose(-2, -1) @ k_proj) * self.temperature2).softmax(dim=-1))
        x_spatial = (spatial_attn @ v_proj.transpose(-2, -1)).permute(0, 3, 1, 2).reshape(b, n, c)
        return x_spatial + x_channel


class CryoTENBlock(nn.Module):
    """A UNETR++ transformer block on a ``side``³ feature map, named as in CryoTEN's checkpoint.

    Tokens get a learned position embedding and a layer-scaled (``gamma``) EPA residual on
    layer-normed tokens; back on the grid a 3×3×3 residual conv block with batch norm
    (``conv51``) and a dropout + 1×1×1 conv residual (``conv8``) follow. Input and output are
    ``(B, C, side, side, side)``.

    Args:
        hidden_size: channels ``C``.
        side: side of the feature map (fixes the position embedding and ``EF``).
        proj_size: EPA projected token count.
        num_heads: attention heads.
        dropout_rate: attention-map dropout and the dropout before ``conv8``'s convolution.
    """

    def __init__(self, hidden_size: int, side: int, proj_size: int, num_heads: int, dropout_rate: float) -> None:
        super().__init__()
        num_tokens = side**3
        self.norm = nn.LayerNorm(hidden_size)
        self.gamma = nn.Parameter(torch.full((hidden_size,), 1e-6))
        self.epa_block = CryoTENAttention(hidden_size, num_tokens, proj_size, num_heads, dropout_rate)
        self.conv51 = UnetResBlock(3, hidden_size, hidden_size, kernel_size=3, stride=1, norm_name="batch")
        self.conv8 = nn.Sequential(nn.Dropout3d(dropout_rate), nn.Conv3d(hidden_size, hidden_size, 1))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, hidden_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Refine a feature map ``(B, C, D, H, W)``."""
        b, c, d, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2) + self.pos_embed
        tokens = tokens + self.gamma * self.epa_block(self.norm(tokens))
        x = tokens.transpose(1, 2).reshape(b, c, d, h, w)
        return x + self.conv8(self.conv51(x))


def _blocks(dim: int, side: int, proj_size: int, depth: int, num_heads: int, dropout_rate: float) -> nn.Sequential:
    return nn.Sequential(*(CryoTENBlock(dim, side, proj_size, num_heads, dropout_rate) for _ in range(depth)))


class _Encoder(nn.Module):
    """Per stage: a strided conv + group norm (as many groups as input channels), then EPA blocks."""

    def __init__(
        self,
        in_channels: int,
        patch_size: int,
        dims: Sequence[int],
        sides: Sequence[int],
        depths: Sequence[int],
        proj_sizes: Sequence[int],
        num_heads: int,
        dropout_rate: float,
    ) -> None:
        super().__init__()
        inputs = (in_channels, *dims[:-1])
        scales = (patch_size,) + (2,) * (len(dims) - 1)
        self.downsample_layers = nn.ModuleList(
            nn.Sequential(
                get_conv_layer(3, c_in, c_out, kernel_size=scale, stride=scale, conv_only=True),
                nn.GroupNorm(c_in, c_out),
            )
            for c_in, c_out, scale in zip(inputs, dims, scales, strict=True)
        )
        self.stages = nn.ModuleList(
            _blocks(dim, side, proj, depth, num_heads, dropout_rate)
            for dim, side, proj, depth in zip(dims, sides, proj_sizes, depths, strict=True)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for downsample, stage in zip(self.downsample_layers, self.stages, strict=True):
            x = stage(downsample(x))
            features.append(x)
        return features


class _UpBlock(nn.Module):
    """Transposed-conv upsampling (no bias), added to the skip, then ``decoder_block[0]``."""

    def __init__(self, in_channels: int, out_channels: int, scale: int, refine: nn.Module) -> None:
        super().__init__()
        self.transp_conv = get_conv_layer(
            3, in_channels, out_channels, kernel_size=scale, stride=scale, conv_only=True, is_transposed=True
        )
        self.decoder_block = nn.ModuleList([refine])

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.decoder_block[0](self.transp_conv(x) + skip)


class CryoTENModel(nn.Module):
    """CryoTEN: UNETR++ with efficient paired attention, for cryo-EM map enhancement.

    Selvaraj, Wang & Cheng, "CryoTEN: efficiently enhancing cryo-EM density maps using
    transformers", Bioinformatics 2024 (after UNETR++, Shaker et al., IEEE TMI 2024). This
    reproduces CryoTEN's own network exactly: its ``state_dict`` names are those of the published
    checkpoint (``cryoten.ckpt``) without the ``net.`` prefix, and it matches that code's output
    on a reference checkpoint to ~1e-6. :func:`cryoten_kwargs_from_state_dict` reads the
    constructor arguments off a checkpoint's tensor shapes.

    Four encoder stages: a ``patch_size`` strided conv (then 2×) with group norm, then
    ``depths[i]`` EPA blocks (:class:`CryoTENBlock`). Three decoder levels each upsample by a
    transposed conv, add the encoder stage of that size and run ``decoder_depths[i]`` EPA
    blocks; the last level returns to full resolution, adds a residual conv block on the input
    (``encoder1``) and refines with another; a 1×1×1 conv gives the map. 3D only; takes
    ``img_size``³ boxes ``(B, in_channels, D, H, W)`` (position embeddings and ``EF`` fix the
    size) and returns ``{"output": (B, out_channels, D, H, W)}``.

    The published configuration (the defaults: 48³ boxes, patch 2, feature size 16, dims 32 64
    128 256, 3 blocks per stage, 4 heads, projections 64 64 64 32 in the encoder and 64 in the
    decoder, instance norm) has 29,505,881 parameters. It differs from :class:`UNETRPPModel`
    (``unetrpp``, 29,834,873 parameters, written from the papers alone): there the EPA has
    output projections to half width per branch and concatenates the halves, and projects keys
    with a biased linear map; here the branches are summed at full width and ``EF`` has no
    bias; the parameter names follow the checkpoint. CryoTEN's ``pos_embed="perceptron"``
    setting is accepted by its code but changes nothing, so it is not an argument here.

    Args:
        in_channels: input channels. Defaults to 1.
        out_channels: output channels (no activation: regression). Defaults to 1.
        img_size: box side, a multiple of ``patch_size * 8``. Defaults to 48.
        patch_size: side of the first downsampling (and of the last upsampling). Defaults to 2.
        feature_size: channels at full resolution. Defaults to 16.
        hidden_size: bottleneck width, equal to ``dims[-1]``. Defaults to 256.
        num_heads: attention heads, dividing every ``dims`` entry. Defaults to 4.
        depths: EPA blocks per encoder stage. Defaults to (3, 3, 3, 3).
        dims: channels per encoder stage (four stages). Defaults to (32, 64, 128, 256).
        proj_sizes: EPA projected token counts per encoder stage. Defaults to (64, 64, 64, 32).
        decoder_depths: EPA blocks per decoder level, finest first (the levels of ``dims[:3]``).
            Defaults to (3, 3, 3).
        decoder_proj_sizes: EPA projected token counts per decoder level, finest first.
            Defaults to (64, 64, 64).
        dropout_rate: dropout on the attention maps and before each block's 1×1×1 conv.
            Defaults to 0.0 (the published setting).
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
        hidden_size: int = 256,
        num_heads: int = 4,
        depths: Sequence[int] = (3, 3, 3, 3),
        dims: Sequence[int] = (32, 64, 128, 256),
        proj_sizes: Sequence[int] = (64, 64, 64, 32),
        decoder_depths: Sequence[int] = (3, 3, 3),
        decoder_proj_sizes: Sequence[int] = (64, 64, 64),
        dropout_rate: float = 0.0,
        norm: LayerSpec = "instance",
    ) -> None:
        check_cryoten(
            in_channels=in_channels,
            out_channels=out_channels,
            img_size=img_size,
            patch_size=patch_size,
            feature_size=feature_size,
            hidden_size=hidden_size,
            num_heads=num_heads,
            depths=depths,
            dims=dims,
            proj_sizes=proj_sizes,
            decoder_depths=decoder_depths,
            decoder_proj_sizes=decoder_proj_sizes,
            dropout_rate=dropout_rate,
            norm=norm,
        )
        super().__init__()
        self.in_channels = in_channels
        self.img_size = img_size
        self.out_channels_by_head = {"output": out_channels}
        sides = [img_size // (patch_size * 2**i) for i in range(len(dims))]
        self.unetr_pp_encoder = _Encoder(
            in_channels, patch_size, dims, sides, depths, proj_sizes, num_heads, dropout_rate
        )
        self.encoder1 = UnetResBlock(3, in_channels, feature_size, kernel_size=3, stride=1, norm_name=norm)
        for level in (2, 1, 0):  # decoder5, decoder4, decoder3: back up to the grid of stage `level`
            refine = _blocks(
                dims[level],
                sides[level],
                decoder_proj_sizes[level],
                decoder_depths[level],
                num_heads,
                dropout_rate,
            )
            setattr(self, f"decoder{level + 3}", _UpBlock(dims[level + 1], dims[level], 2, refine))
        self.decoder2 = _UpBlock(
            dims[0],
            feature_size,
            patch_size,
            UnetResBlock(3, feature_size, feature_size, kernel_size=3, stride=1, norm_name=norm),
        )
        self.out1 = UnetOutBlock(3, feature_size, out_channels)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The enhanced map ``(B, out_channels, D, H, W)`` for a batch of ``img_size``³ boxes."""
        check_input(x.shape, in_channels=self.in_channels, side=self.img_size)
        enc1, enc2, enc3, enc4 = self.unetr_pp_encoder(x)
        y = self.decoder5(enc4, enc3)
        y = self.decoder4(y, enc2)
        y = self.decoder3(y, enc1)
        return {"output": self.out1(self.decoder2(y, self.encoder1(x)))}


def _shape(value: torch.Tensor | Sequence[int]) -> tuple[int, ...]:
    return tuple(int(n) for n in (value.shape if isinstance(value, torch.Tensor) else value))


def _count(shapes: Mapping[str, tuple[int, ...]], prefix: str) -> int:
    """How many consecutive blocks ``prefix{j}.`` there are (``j`` from 0)."""
    depth = 0
    while f"{prefix}{depth}.gamma" in shapes:
        depth += 1
    return depth


def cryoten_kwargs_from_state_dict(state: Mapping[str, torch.Tensor | Sequence[int]]) -> dict[str, Any]:
    """The :class:`CryoTENModel` arguments that give exactly the tensors of ``state``.

    CryoTEN's checkpoint holds no network settings, so they are read off the tensor shapes.
    ``state`` maps names to tensors or to shapes; a ``net.`` prefix (Lightning's) is stripped.
    ``dropout_rate`` cannot be read from shapes and keeps its default; ``norm`` is ``"batch"``
    when ``encoder1`` carries batch-norm statistics, else ``"instance"``.

    Raises:
        ValueError: when a tensor the network needs is missing, a tensor is unexpected, or a
            shape does not fit; the message lists them.
    """
    shapes = {name.removeprefix("net."): _shape(value) for name, value in state.items()}

    def get(name: str) -> tuple[int, ...]:
        if name not in shapes:
            raise ValueError(f"not a CryoTEN state dict: tensor {name!r} is missing.")
        return shapes[name]

    stem = get("unetr_pp_encoder.downsample_layers.0.0.conv.weight")
    dims = []
    while f"unetr_pp_encoder.downsample_layers.{len(dims)}.0.conv.weight" in shapes:
        dims.append(get(f"unetr_pp_encoder.downsample_layers.{len(dims)}.0.conv.weight")[0])
    side = round(get("unetr_pp_encoder.stages.0.0.pos_embed")[1] ** (1 / 3))
    stage_prefix = "unetr_pp_encoder.stages.{}."
    decoder_prefix = {level: f"decoder{level + 3}.decoder_block.0." for level in range(3)}
    if "encoder1.norm1.running_mean" in shapes:
        norm: LayerSpec = "batch"
    else:
        norm = "instance"
    kwargs: dict[str, Any] = {
        "in_channels": stem[1],
        "out_channels": get("out1.conv.conv.weight")[0],
        "img_size": side * stem[2],
        "patch_size": stem[2],
        "feature_size": get("encoder1.conv1.conv.weight")[0],
        "hidden_size": dims[-1],
        "num_heads": get(stage_prefix.format(0) + "0.epa_block.temperature")[0],
        "depths": tuple(_count(shapes, stage_prefix.format(i)) for i in range(len(dims))),
        "dims": tuple(dims),
        "proj_sizes": tuple(get(stage_prefix.format(i) + "0.epa_block.EF")[1] for i in range(len(dims))),
        "decoder_depths": tuple(_count(shapes, decoder_prefix[level]) for level in range(3)),
        "decoder_proj_sizes": tuple(get(decoder_prefix[level] + "0.epa_block.EF")[1] for level in range(3)),
        "norm": norm,
    }
    try:
        with torch.device("meta"):
            expected = {name: tuple(t.shape) for name, t in CryoTENModel(**kwargs).state_dict().items()}
    except ValueError as error:
        raise ValueError(f"not a CryoTEN state dict: its shapes give impossible arguments ({error})") from error
    missing = sorted(expected.keys() - shapes.keys())
    unexpected = sorted(shapes.keys() - expected.keys())
    mismatched = sorted(
        f"{name} {shapes[name]} (expected {expected[name]})"
        for name in expected.keys() & shapes.keys()
        if shapes[name] != expected[name]
    )
    if missing or unexpected or mismatched:
        problems = [
            f"{label}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''} ({len(names)} in all)"
            for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched))
            if names
        ]
        raise ValueError(f"not a CryoTEN state dict for {kwargs}: " + "; ".join(problems) + ".")
    return kwargs
