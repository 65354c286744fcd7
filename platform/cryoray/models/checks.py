"""Argument checks shared by the model configs and the model constructors.

One function per network, taking exactly the network's constructor arguments, so a YAML config
is refused at load time (as a ConfigError) with the message a direct constructor call raises
(as a ValueError). Plain Python: no tensors needed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CRYO2STRUCT_PATCH_SIZE",
    "UNETR_PATCH_SIZE",
    "LayerSpec",
    "check_cryo2struct",
    "check_cryores",
    "check_cryosamu",
    "check_cryoten",
    "check_discriminator",
    "check_input",
    "check_segformer3d",
    "check_struc2mapgan",
    "check_unet",
    "check_unetpp",
    "check_unetr",
    "check_unetrpp",
]

#: A MONAI layer description: a name such as ``"instance"``, or a ``(name, kwargs)`` pair.
LayerSpec = str | tuple[str, Mapping[str, Any]]

#: MONAI's UNETR fixes its patch size (and its 12 transformer layers).
UNETR_PATCH_SIZE = 16


def _positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"`{name}` must be at least 1, got {value}.")


def _positive_list(name: str, values: Sequence[int]) -> None:
    if not values or min(values) < 1:
        raise ValueError(f"`{name}` must be a non-empty list of positive integers, got {list(values)}.")


def _dropout(dropout_rate: float) -> None:
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"`dropout_rate` must be in [0, 1), got {dropout_rate}.")


def _layer(name: str, spec: LayerSpec) -> None:
    named = isinstance(spec, str) or (
        isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], Mapping)
    )
    if not named:
        raise ValueError(f"`{name}` must be a layer name or a (name, kwargs) pair, got {spec!r}.")


def _multiple(img_size: int, step: int, what: str) -> None:
    if img_size % step:
        raise ValueError(f"`img_size` ({img_size}) must be a multiple of {step}, {what}.")


def _divisible(name: str, size: int, heads_name: str, heads: int) -> None:
    if size % heads:
        raise ValueError(f"`{name}` ({size}) must be divisible by `{heads_name}` ({heads}).")


def _same_lengths(**lists: Sequence[int]) -> None:
    if len({len(values) for values in lists.values()}) > 1:
        listed = ", ".join(f"`{name}` has {len(values)}" for name, values in lists.items())
        raise ValueError(f"one entry per stage is needed, but {listed}.")


def check_unetr(
    *,
    in_channels: int,
    out_channels: int,
    img_size: int,
    feature_size: int,
    hidden_size: int,
    mlp_dim: int,
    num_heads: int,
    dropout_rate: float,
    norm: LayerSpec,
) -> None:
    """Refuse a UNETR that MONAI cannot build or that cannot take ``img_size`` boxes."""
    _positive(
        in_channels=in_channels,
        out_channels=out_channels,
        img_size=img_size,
        feature_size=feature_size,
        hidden_size=hidden_size,
        mlp_dim=mlp_dim,
        num_heads=num_heads,
    )
    _dropout(dropout_rate)
    _layer("norm", norm)
    _multiple(img_size, UNETR_PATCH_SIZE, "the patch size MONAI's UNETR uses")
    _divisible("hidden_size", hidden_size, "num_heads", num_heads)


def check_unet(
    *,
    in_channels: int,
    out_channels: int | Mapping[str, int],
    img_size: int,
    channels: Sequence[int],
    strides: Sequence[int],
    num_res_units: int,
    dropout_rate: float,
    norm: LayerSpec,
    act: LayerSpec,
    residual: bool = False,
) -> None:
    """Refuse a U-Net whose levels do not match or that cannot downsample ``img_size`` evenly."""
    heads = out_channels if isinstance(out_channels, Mapping) else {"output": out_channels}
    if not heads:
        raise ValueError("`out_channels` must name at least one head.")
    _positive(in_channels=in_channels, img_size=img_size, **{f"out_channels[{k}]": v for k, v in heads.items()})
    _positive_list("channels", channels)
    _positive_list("strides", strides)
    if num_res_units < 0:
        raise ValueError(f"`num_res_units` must be at least 0, got {num_res_units}.")
    _dropout(dropout_rate)
    _layer("norm", norm)
    _layer("act", act)
    if len(channels) < 2 or len(strides) != len(channels) - 1:
        raise ValueError(
            f"`strides` needs one entry fewer than `channels` (at least 2 levels); "
            f"got {len(strides)} strides for {len(channels)} channels."
        )
    _multiple(img_size, math.prod(strides), "the product of `strides`")
    if residual and out_channels != in_channels:  # a mapping never equals an int
        raise ValueError(
            f"`residual` adds the input to the output: `out_channels` ({out_channels}) must equal "
            f"`in_channels` ({in_channels})."
        )


def check_cryores(
    *,
    in_channels: int,
    img_size: int,
    channels: Sequence[int],
    num_res_units: int,
    hidden_size: int,
    dropout_rate: float,
    norm: LayerSpec,
    act: LayerSpec,
) -> None:
    """Refuse a CryoRes network without two levels or whose box does not halve evenly at every level."""
    _positive(in_channels=in_channels, img_size=img_size, num_res_units=num_res_units, hidden_size=hidden_size)
    _positive_list("channels", channels)
    if len(channels) < 2:
        raise ValueError(f"`channels` needs at least 2 levels (one downsampling), got {list(channels)}.")
    _dropout(dropout_rate)
    _layer("norm", norm)
    _layer("act", act)
    _multiple(img_size, 2 ** (len(channels) - 1), "the downsampling of its `channels` levels (2 per level)")


def check_cryosamu(
    *,
    in_channels: int,
    out_channels: int,
    img_size: int,
    channels: Sequence[int],
    num_res_units: int,
    embedding_dim: int,
    embedding_tokens: int,
    bottleneck_depth: int,
    num_heads: int,
    mlp_dim: int,
    embedding_dropout: float,
    dropout_rate: float,
    norm: LayerSpec,
    act: LayerSpec,
    residual: bool,
) -> None:
    """Refuse a CryoSAMU network without two levels, with heads that do not divide its bottleneck, or odd boxes."""
    _positive(
        in_channels=in_channels,
        out_channels=out_channels,
        img_size=img_size,
        num_res_units=num_res_units,
        embedding_dim=embedding_dim,
        embedding_tokens=embedding_tokens,
        bottleneck_depth=bottleneck_depth,
        num_heads=num_heads,
        mlp_dim=mlp_dim,
    )
    _positive_list("channels", channels)
    if len(channels) < 2:
        raise ValueError(f"`channels` needs at least 2 levels (one downsampling), got {list(channels)}.")
    _divisible("channels[-1]", channels[-1], "num_heads", num_heads)
    _dropout(dropout_rate)
    if not 0.0 <= embedding_dropout < 1.0:
        raise ValueError(f"`embedding_dropout` must be in [0, 1), got {embedding_dropout}.")
    _layer("norm", norm)
    _layer("act", act)
    _multiple(img_size, 2 ** (len(channels) - 1), "the downsampling of its `channels` levels (2 per level)")
    if residual and out_channels != in_channels:
        raise ValueError(
            f"`residual` adds the input to the output: `out_channels` ({out_channels}) must equal "
            f"`in_channels` ({in_channels})."
        )


def check_unetrpp(
    *,
    in_channels: int,
    out_channels: int,
    img_size: int,
    patch_size: int,
    feature_size: int,
    dims: Sequence[int],
    depths: Sequence[int],
    proj_sizes: Sequence[int],
    num_heads: int,
    dropout_rate: float,
    norm: LayerSpec,
) -> None:
    """Refuse a UNETR++ whose stage lists disagree or whose stages cannot halve ``img_size``."""
    _positive(
        in_channels=in_channels,
        out_channels=out_channels,
        img_size=img_size,
        patch_size=patch_size,
        feature_size=feature_size,
        num_heads=num_heads,
    )
    for name, values in (("dims", dims), ("depths", depths), ("proj_sizes", proj_sizes)):
        _positive_list(name, values)
    _dropout(dropout_rate)
    _layer("norm", norm)
    _same_lengths(dims=dims, depths=depths, proj_sizes=proj_sizes)
    if len(dims) < 2:
        raise ValueError(f"`dims` needs at least 2 stages, got {len(dims)}.")
    _multiple(img_size, patch_size * 2 ** (len(dims) - 1), "`patch_size` times 2 per further stage")
    for dim in dims:
        _divisible("dims", dim, "num_heads", num_heads)


def check_segformer3d(
    *,
    in_channels: int,
    atom_classes: int,
    amino_classes: int,
    img_size: int,
    embed_dims: Sequence[int],
    num_heads: Sequence[int],
    depths: Sequence[int],
    sr_ratios: Sequence[int],
    patch_kernel_sizes: Sequence[int],
    patch_strides: Sequence[int],
    mlp_ratio: int,
    decoder_dim: int,
    dropout_rate: float,
    seq_embedding_dim: int | None,
) -> None:
    """Refuse a SegFormer3D whose stage lists disagree or whose stages cannot divide ``img_size``."""
    _positive(
        in_channels=in_channels,
        atom_classes=atom_classes,
        amino_classes=amino_classes,
        img_size=img_size,
        mlp_ratio=mlp_ratio,
        decoder_dim=decoder_dim,
    )
    if seq_embedding_dim is not None:
        _positive(seq_embedding_dim=seq_embedding_dim)
    stage_lists = {
        "embed_dims": embed_dims,
        "num_heads": num_heads,
        "depths": depths,
        "sr_ratios": sr_ratios,
        "patch_kernel_sizes": patch_kernel_sizes,
        "patch_strides": patch_strides,
    }
    for name, values in stage_lists.items():
        _positive_list(name, values)
    _dropout(dropout_rate)
    _same_lengths(**stage_lists)
    for dim, heads in zip(embed_dims, num_heads, strict=True):
        _divisible("embed_dims", dim, "num_heads", heads)
    if any(kernel % 2 == 0 for kernel in patch_kernel_sizes):
        raise ValueError(f"`patch_kernel_sizes` must be odd (padded by half a kernel), got {list(patch_kernel_sizes)}.")
    total = 1
    for stride, ratio in zip(patch_strides, sr_ratios, strict=True):
        total *= stride
        _multiple(img_size, total, "the downsampling reached at each stage (`patch_strides` multiplied up)")
        if (img_size // total) % ratio:
            raise ValueError(
                f"a stage of side {img_size // total} cannot be reduced by its `sr_ratios` entry {ratio}; "
                f"change `img_size` ({img_size}) or `sr_ratios`."
            )


def check_input(shape: Sequence[int], *, in_channels: int, side: int | None = None, multiple_of: int = 1) -> None:
    """Refuse an input that is not ``(B, in_channels, D, H, W)`` with box sides the network can take.

    Networks with position embeddings take only ``side``³ boxes; the others take any box whose
    sides are multiples of their total downsampling ``multiple_of``.
    """
    if len(shape) != 5 or shape[1] != in_channels:
        raise ValueError(f"expected input of shape (B, {in_channels}, D, H, W), got {tuple(shape)}.")
    sides = tuple(shape[2:])
    if side is not None and sides != (side,) * 3:
        raise ValueError(f"this network takes {side}³ boxes (its `img_size`), got sides {sides}.")
    if any(n % multiple_of for n in sides):
        raise ValueError(f"box sides must be multiples of {multiple_of}, got {sides}.")


def check_cryoten(
    *,
    in_channels: int,
    out_channels: int,
    img_size: int,
    patch_size: int,
    feature_size: int,
    hidden_size: int,
    num_heads: int,
    depths: Sequence[int],
    dims: Sequence[int],
    proj_sizes: Sequence[int],
    decoder_depths: Sequence[int],
    decoder_proj_sizes: Sequence[int],
    dropout_rate: float,
    norm: LayerSpec,
) -> None:
    """Refuse a CryoTEN that does not have its four stages or whose stages cannot halve ``img_size``."""
    _positive(
        in_channels=in_channels,
        out_channels=out_channels,
        img_size=img_size,
        patch_size=patch_size,
        feature_size=feature_size,
        hidden_size=hidden_size,
        num_heads=num_heads,
    )
    lists = {
        "depths": depths,
        "dims": dims,
        "proj_sizes": proj_sizes,
        "decoder_depths": decoder_depths,
        "decoder_proj_sizes": decoder_proj_sizes,
    }
    for name, values in lists.items():
        _positive_list(name, values)
    _dropout(dropout_rate)
    _layer("norm", norm)
    if len(dims) != 4:
        raise ValueError(f"`dims` needs 4 stages (CryoTEN's layout, decoder5 to decoder2), got {len(dims)}.")
    _same_lengths(dims=dims, depths=depths, proj_sizes=proj_sizes)
    for name, values in (("decoder_depths", decoder_depths), ("decoder_proj_sizes", decoder_proj_sizes)):
        if len(values) != len(dims) - 1:
            raise ValueError(f"`{name}` needs one entry per decoder level ({len(dims) - 1}), got {len(values)}.")
    if hidden_size != dims[-1]:
        raise ValueError(f"`hidden_size` ({hidden_size}) must equal the bottleneck width `dims[-1]` ({dims[-1]}).")
    _multiple(img_size, patch_size * 2 ** (len(dims) - 1), "`patch_size` times 2 per further stage")
    for dim in dims:
        _divisible("dims", dim, "num_heads", num_heads)


#: Cryo2Struct's decoder doubles the token grid four times (2**4 = 16), so its patches are 16³.
CRYO2STRUCT_PATCH_SIZE = 16


def check_cryo2struct(
    *,
    in_channels: int,
    out_channels: int,
    img_size: int,
    patch_size: int,
    embed_dim: int,
    num_heads: int,
    num_layers: int,
    ext_layers: Sequence[int],
    base_filters: int,
    mlp_dim: int,
    dropout_rate: float,
    norm: LayerSpec,
) -> None:
    """Refuse a Cryo2Struct Transformer U-Net whose skips, patches or heads do not fit together."""
    _positive(
        in_channels=in_channels,
        out_channels=out_channels,
        img_size=img_size,
        patch_size=patch_size,
        embed_dim=embed_dim,
        num_heads=num_heads,
        num_layers=num_layers,
        base_filters=base_filters,
        mlp_dim=mlp_dim,
    )
    _dropout(dropout_rate)
    _layer("norm", norm)
    if patch_size != CRYO2STRUCT_PATCH_SIZE:
        raise ValueError(
            f"`patch_size` must be {CRYO2STRUCT_PATCH_SIZE} (the decoder doubles the token grid four times), "
            f"got {patch_size}."
        )
    _multiple(img_size, patch_size, "`patch_size`")
    _divisible("embed_dim", embed_dim, "num_heads", num_heads)
    layers = list(ext_layers)
    if len(layers) != 4 or layers != sorted(set(layers)) or layers[0] < 1:
        raise ValueError(f"`ext_layers` must be 4 increasing layer numbers from 1 (one per skip), got {layers}.")
    if layers[-1] != num_layers:
        raise ValueError(
            f"the last of `ext_layers` ({layers[-1]}) must be `num_layers` ({num_layers}): "
            "later blocks would feed nothing and earlier ones do not exist."
        )


def check_unetpp(
    *,
    in_channels: int,
    out_channels: int,
    img_size: int,
    features: Sequence[int],
    norm: LayerSpec,
    act: LayerSpec,
    dropout_rate: float,
) -> None:
    """Refuse a U-Net++ without two levels or whose box does not halve evenly at every level."""
    _positive(in_channels=in_channels, out_channels=out_channels, img_size=img_size)
    _positive_list("features", features)
    if len(features) < 2:
        raise ValueError(f"`features` needs at least 2 levels (one downsampling), got {list(features)}.")
    _dropout(dropout_rate)
    _layer("norm", norm)
    _layer("act", act)
    _multiple(img_size, 2 ** (len(features) - 1), "the downsampling of its `features` levels (2 per level)")


def check_discriminator(
    *,
    in_channels: int,
    channels: Sequence[int],
    strides: Sequence[int],
    hidden: Sequence[int],
    norm: LayerSpec,
    act: LayerSpec,
) -> None:
    """Refuse a discriminator whose convolutions and strides do not pair up."""
    _positive(in_channels=in_channels)
    _positive_list("channels", channels)
    _positive_list("strides", strides)
    if hidden:
        _positive_list("hidden", hidden)
    _same_lengths(channels=channels, strides=strides)
    _layer("norm", norm)
    _layer("act", act)


def check_struc2mapgan(
    *,
    in_channels: int,
    out_channels: int,
    img_size: int,
    features: Sequence[int],
    disc_channels: Sequence[int],
    disc_strides: Sequence[int],
    disc_hidden: Sequence[int],
    input_scale: float,
    norm: LayerSpec,
    act: LayerSpec,
    dropout_rate: float,
) -> None:
    """Refuse a struc2mapGAN whose generator or discriminator cannot be built, or a bad ``input_scale``."""
    check_unetpp(
        in_channels=in_channels,
        out_channels=out_channels,
        img_size=img_size,
        features=features,
        norm=norm,
        act=act,
        dropout_rate=dropout_rate,
    )
    check_discriminator(
        in_channels=out_channels, channels=disc_channels, strides=disc_strides, hidden=disc_hidden, norm=norm, act=act
    )
    if not (math.isfinite(input_scale) and input_scale > 0):
        raise ValueError(f"`input_scale` must be positive and finite, got {input_scale}.")
