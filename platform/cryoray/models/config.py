"""Model configs: one frozen section per network, chosen in YAML by ``name``.

A config's fields are exactly its network's constructor arguments, with the published
hyperparameters as defaults, so ``{"name": "cryo2struct"}`` is Cryo2Struct's network and
``{"name": "cryoten"}`` CryoTEN's (both load the tools' released weights). ``unetr`` and
``unetrpp`` are MONAI-based networks of the same kind at similar sizes, not the tools' networks.
Impossible combinations are refused when the config is validated, before anything is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import Field, WrapValidator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from cryoray.config import Section
from cryoray.models.checks import (
    LayerSpec,
    check_cryo2struct,
    check_cryores,
    check_cryosamu,
    check_cryoten,
    check_segformer3d,
    check_struc2mapgan,
    check_unet,
    check_unetr,
    check_unetrpp,
)

__all__ = [
    "Cryo2StructConfig",
    "CryoResConfig",
    "CryoSAMUConfig",
    "CryoTENConfig",
    "ModelConfig",
    "NetworkConfig",
    "SegFormer3DConfig",
    "Struc2mapGANConfig",
    "UNETRConfig",
    "UNETRPPConfig",
    "UNetConfig",
]


class NetworkConfig(Section):
    """Base of the model configs: a ``name`` tag plus the network's constructor arguments."""

    #: The network's argument check (from :mod:`cryoray.models.checks`), run on validation.
    check: ClassVar[Callable[..., None]]

    name: str

    def network_kwargs(self) -> dict[str, Any]:
        """The constructor arguments: every field but ``name``."""
        return {key: getattr(self, key) for key in type(self).model_fields if key != "name"}

    @model_validator(mode="after")
    def _possible(self) -> NetworkConfig:
        self.check(**self.network_kwargs())
        return self


class UNETRConfig(NetworkConfig):
    """MONAI's UNETR (Hatamizadeh et al. 2022, arXiv:2103.10504) at Cryo2Struct's sizes.

    Not Cryo2Struct's network (that is ``cryo2struct``, which loads its released weights): MONAI's
    blocks differ in layout and count (92,624,132 parameters against 92,281,604).

    MONAI fixes the patch size (16) and the depth (12 layers, skips from layers 3/6/9/12).

    Args:
        in_channels: input channels. Defaults to 1 (a density map).
        out_channels: classes. Defaults to 4 (Cα, N, C, none); 21 for the amino-acid model.
        img_size: box side in voxels, a multiple of 16. Defaults to 32.
        feature_size: channels of the first decoder level. Defaults to 16.
        hidden_size: transformer width. Defaults to 768.
        mlp_dim: transformer MLP width. Defaults to 3072.
        num_heads: attention heads, dividing ``hidden_size``. Defaults to 12.
        dropout_rate: transformer dropout. Defaults to 0.1.
        norm: decoder normalisation. Defaults to ``"instance"``.
    """

    check = staticmethod(check_unetr)

    name: Literal["unetr"] = "unetr"
    in_channels: int = 1
    out_channels: int = 4
    img_size: int = 32
    feature_size: int = 16
    hidden_size: int = 768
    mlp_dim: int = 3072
    num_heads: int = 12
    dropout_rate: float = 0.1
    norm: LayerSpec = "instance"


class UNetConfig(NetworkConfig):
    """A plain 3D U-Net baseline: MONAI's residual UNet (Kerfoot et al. 2018), no attention.

    Not from a cryo-EM paper; the defaults are MONAI's usual 5-level network on 48³ boxes, the
    box CryoTEN and EMReady use, as a regression baseline.

    Args:
        in_channels: input channels. Defaults to 1.
        out_channels: output channels: 1 for map regression, the class count for classification;
            or channels by head name for a network with several heads (e.g. ``{ca: 1,
            amino_acid: 21}``, the Cα heatmap and residue-type builder). Defaults to 1.
        img_size: box side in voxels, a multiple of the product of ``strides``. Defaults to 48.
        channels: channels per level. Defaults to (16, 32, 64, 128, 256).
        strides: downsampling between levels, one fewer than ``channels``. Defaults to (2, 2, 2, 2).
        num_res_units: residual units per level. Defaults to 2.
        dropout_rate: dropout in every unit. Defaults to 0.0.
        norm: normalisation. Defaults to ``"instance"``.
        act: activation. Defaults to ``"prelu"``.
        residual: output = input + a learned change gated by a scale that starts at 0 (the
            untrained network is the identity); for enhancement. Defaults to False.
    """

    check = staticmethod(check_unet)

    name: Literal["unet"] = "unet"
    in_channels: int = 1
    out_channels: int | dict[str, int] = 1
    img_size: int = 48
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    strides: tuple[int, ...] = (2, 2, 2, 2)
    num_res_units: int = 2
    dropout_rate: float = 0.0
    norm: LayerSpec = "instance"
    act: LayerSpec = "prelu"
    residual: bool = False


class UNETRPPConfig(NetworkConfig):
    """UNETR++ with efficient paired attention (Shaker et al. 2024) at CryoTEN's sizes, from MONAI blocks.

    Not CryoTEN's network (that is ``cryoten``, which loads its released weights): this EPA
    concatenates half-width spatial and channel branches, as the UNETR++ paper describes, where
    CryoTEN adds full-width ones (29,834,873 parameters against 29,505,881).

    Args:
        in_channels: input channels. Defaults to 1.
        out_channels: output channels. Defaults to 1 (the enhanced map).
        img_size: box side in voxels, a multiple of ``patch_size * 2 ** (stages - 1)``. Defaults to 48.
        patch_size: side of the first (patch-embedding) downsampling. Defaults to 2 (48³ -> 24³).
        feature_size: channels at full resolution. Defaults to 16.
        dims: channels per encoder stage; the last is the bottleneck hidden size.
            Defaults to (32, 64, 128, 256).
        depths: EPA blocks per stage (the decoder mirrors them). Defaults to (3, 3, 3, 3).
        proj_sizes: tokens the keys and values are projected to, per stage. Defaults to (64, 64, 64, 32).
        num_heads: attention heads, dividing every ``dims`` entry. Defaults to 4.
        dropout_rate: attention and block dropout. Defaults to 0.1.
        norm: normalisation of the full-resolution convolution blocks. Defaults to ``"instance"``.
    """

    check = staticmethod(check_unetrpp)

    name: Literal["unetrpp"] = "unetrpp"
    in_channels: int = 1
    out_channels: int = 1
    img_size: int = 48
    patch_size: int = 2
    feature_size: int = 16
    dims: tuple[int, ...] = (32, 64, 128, 256)
    depths: tuple[int, ...] = (3, 3, 3, 3)
    proj_sizes: tuple[int, ...] = (64, 64, 64, 32)
    num_heads: int = 4
    dropout_rate: float = 0.1
    norm: LayerSpec = "instance"


class SegFormer3DConfig(NetworkConfig):
    """Cryo2Struct2's classifier: a SegFormer3D encoder with an atom head and an amino-acid head.

    Args:
        in_channels: input channels. Defaults to 1.
        atom_classes: atom-head classes (Cα, N, C, none). Defaults to 4.
        amino_classes: amino-acid-head classes (20 + none/unknown). Defaults to 21.
        img_size: box side in voxels; Cryo2Struct2 trains on 32³ sub-grids. Defaults to 32.
        embed_dims: channels per stage. Defaults to (32, 64, 160, 256).
        num_heads: attention heads per stage. Defaults to (4, 8, 16, 32).
        depths: transformer blocks per stage. Defaults to (8, 8, 8, 8).
        sr_ratios: spatial reduction of keys/values per stage. Defaults to (4, 2, 1, 1).
        patch_kernel_sizes: overlapping patch-embedding kernels. Defaults to (7, 3, 3, 3).
        patch_strides: patch-embedding strides. Defaults to (4, 2, 2, 2).
        mlp_ratio: Mix-FFN expansion. Defaults to 4 (SegFormer3D).
        decoder_dim: all-MLP decoder width. Defaults to 256 (SegFormer3D).
        dropout_rate: dropout before each head's classifier; not stated by Cryo2Struct2, 0.1 as in
            Cryo2Struct. Defaults to 0.1.
        seq_embedding_dim: width of the per-structure sequence embedding added to every stage
            (2560 for Cryo2Struct2's ESM-2 3B vectors); None builds no projection layers.
            Defaults to None.
    """

    check = staticmethod(check_segformer3d)

    name: Literal["segformer3d"] = "segformer3d"
    in_channels: int = 1
    atom_classes: int = 4
    amino_classes: int = 21
    img_size: int = 32
    embed_dims: tuple[int, ...] = (32, 64, 160, 256)
    num_heads: tuple[int, ...] = (4, 8, 16, 32)
    depths: tuple[int, ...] = (8, 8, 8, 8)
    sr_ratios: tuple[int, ...] = (4, 2, 1, 1)
    patch_kernel_sizes: tuple[int, ...] = (7, 3, 3, 3)
    patch_strides: tuple[int, ...] = (4, 2, 2, 2)
    mlp_ratio: int = 4
    decoder_dim: int = 256
    dropout_rate: float = 0.1
    seq_embedding_dim: int | None = None


class CryoTENConfig(NetworkConfig):
    """CryoTEN's published network, exactly (Selvaraj et al. 2024): loads its ``cryoten.ckpt``.

    UNETR++ with CryoTEN's own efficient paired attention; see :class:`cryoray.models.cryoten.CryoTENModel`.
    The defaults are the published configuration (29,505,881 parameters).

    Args:
        in_channels: input channels. Defaults to 1.
        out_channels: output channels. Defaults to 1 (the enhanced map).
        img_size: box side in voxels, a multiple of ``patch_size * 8``. Defaults to 48.
        patch_size: side of the first downsampling (48³ -> 24³). Defaults to 2.
        feature_size: channels at full resolution. Defaults to 16.
        hidden_size: bottleneck width, equal to ``dims[-1]``. Defaults to 256.
        num_heads: attention heads, dividing every ``dims`` entry. Defaults to 4.
        depths: EPA blocks per encoder stage. Defaults to (3, 3, 3, 3).
        dims: channels per encoder stage (four stages). Defaults to (32, 64, 128, 256).
        proj_sizes: EPA projected token counts per encoder stage. Defaults to (64, 64, 64, 32).
        decoder_depths: EPA blocks per decoder level, finest first. Defaults to (3, 3, 3).
        decoder_proj_sizes: EPA projected token counts per decoder level, finest first.
            Defaults to (64, 64, 64).
        dropout_rate: attention-map and block dropout. Defaults to 0.0 (the published setting).
        norm: normalisation of the full-resolution convolution blocks. Defaults to ``"instance"``.
    """

    check = staticmethod(check_cryoten)

    name: Literal["cryoten"] = "cryoten"
    in_channels: int = 1
    out_channels: int = 1
    img_size: int = 48
    patch_size: int = 2
    feature_size: int = 16
    hidden_size: int = 256
    num_heads: int = 4
    depths: tuple[int, ...] = (3, 3, 3, 3)
    dims: tuple[int, ...] = (32, 64, 128, 256)
    proj_sizes: tuple[int, ...] = (64, 64, 64, 32)
    decoder_depths: tuple[int, ...] = (3, 3, 3)
    decoder_proj_sizes: tuple[int, ...] = (64, 64, 64)
    dropout_rate: float = 0.0
    norm: LayerSpec = "instance"


class Cryo2StructConfig(NetworkConfig):
    """Cryo2Struct's published Transformer U-Net, exactly (Giri & Cheng 2024): loads its checkpoints.

    A UNETR as Cryo2Struct builds it; see :class:`cryoray.models.cryo2struct.Cryo2StructModel`.
    The defaults are the published atom model (92,281,604 parameters; 92,281,893 with 21 classes).

    Args:
        in_channels: input channels. Defaults to 1.
        out_channels: classes. Defaults to 4 (Cα, N, C, none); 21 for the amino-acid model.
        img_size: box side in voxels, a multiple of ``patch_size``. Defaults to 32.
        patch_size: patch side; must be 16 (the decoder doubles the token grid four times). Defaults to 16.
        embed_dim: transformer width. Defaults to 768.
        num_heads: attention heads, dividing ``embed_dim``. Defaults to 12.
        num_layers: transformer blocks. Defaults to 12.
        ext_layers: the four layers feeding the skips, increasing, the last ``num_layers``.
            Defaults to (3, 6, 9, 12).
        base_filters: channels of the full-resolution decoder level. Defaults to 16.
        mlp_dim: transformer MLP width. Defaults to 3072.
        dropout_rate: transformer dropout. Defaults to 0.0 (the released checkpoints' setting).
        norm: decoder normalisation. Defaults to ``"instance"``.
    """

    check = staticmethod(check_cryo2struct)

    name: Literal["cryo2struct"] = "cryo2struct"
    in_channels: int = 1
    out_channels: int = 4
    img_size: int = 32
    patch_size: int = 16
    embed_dim: int = 768
    num_heads: int = 12
    num_layers: int = 12
    ext_layers: tuple[int, ...] = (3, 6, 9, 12)
    base_filters: int = 16
    mlp_dim: int = 3072
    dropout_rate: float = 0.0
    norm: LayerSpec = "instance"


class CryoResConfig(NetworkConfig):
    """CryoRes's local-resolution network: global resolution, relative local resolution and mask heads.

    The paper gives the heads, not the layers; see :class:`cryoray.models.cryores.CryoResModel`
    (a residual 3D U-Net of MONAI blocks plus a pooled global head).

    Args:
        in_channels: input channels. Defaults to 1.
        img_size: box side in voxels, a multiple of ``2 ** (len(channels) - 1)``. Defaults to 64.
        channels: channels per level, finest first. Defaults to (16, 32, 64, 128).
        num_res_units: convolutions per residual unit. Defaults to 2.
        hidden_size: width of the global head's hidden layer. Defaults to 64.
        dropout_rate: dropout in every unit. Defaults to 0.0.
        norm: normalisation. Defaults to ``"instance"``.
        act: activation. Defaults to ``"prelu"``.
    """

    check = staticmethod(check_cryores)

    name: Literal["cryores"] = "cryores"
    in_channels: int = 1
    img_size: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 128)
    num_res_units: int = 2
    hidden_size: int = 64
    dropout_rate: float = 0.0
    norm: LayerSpec = "instance"
    act: LayerSpec = "prelu"


class CryoSAMUConfig(NetworkConfig):
    """CryoSAMU's structure-aware multimodal U-Net for 4-8 Å maps (Zhang & Dao Duc).

    The paper gives the layout (density encoder, bottleneck cross-attending to a per-entry
    structural embedding, decoder), not the sizes; see :class:`cryoray.models.cryosamu.CryoSAMUModel`.
    Trained with ``data.embedding: true`` it takes the store's embeddings; without, or at
    inference without one, its learned "no structure" tokens.

    Args:
        in_channels: input channels. Defaults to 1.
        out_channels: output channels. Defaults to 1 (the enhanced map).
        img_size: box side in voxels, a multiple of ``2 ** (len(channels) - 1)``. Defaults to 48.
        channels: channels per level, finest first. Defaults to (32, 64, 128, 256).
        num_res_units: convolutions per residual unit. Defaults to 2.
        embedding_dim: structural embedding width; must equal the store's. Defaults to 512 (ESM-IF1).
        embedding_tokens: structure tokens the bottleneck attends to. Defaults to 4.
        bottleneck_depth: transformer decoder layers in the bottleneck. Defaults to 2.
        num_heads: attention heads, dividing ``channels[-1]``. Defaults to 8.
        mlp_dim: feed-forward width of the bottleneck. Defaults to 512.
        embedding_dropout: training probability of replacing a box's embedding by "no structure". Defaults to 0.1.
        dropout_rate: dropout in every unit and attention layer. Defaults to 0.0.
        norm: normalisation. Defaults to ``"instance"``.
        act: activation. Defaults to ``"prelu"``.
        residual: output = input + a gated change that starts at 0. Defaults to False.
    """

    check = staticmethod(check_cryosamu)

    name: Literal["cryosamu"] = "cryosamu"
    in_channels: int = 1
    out_channels: int = 1
    img_size: int = 48
    channels: tuple[int, ...] = (32, 64, 128, 256)
    num_res_units: int = 2
    embedding_dim: int = 512
    embedding_tokens: int = 4
    bottleneck_depth: int = 2
    num_heads: int = 8
    mlp_dim: int = 512
    embedding_dropout: float = 0.1
    dropout_rate: float = 0.0
    norm: LayerSpec = "instance"
    act: LayerSpec = "prelu"
    residual: bool = False


class Struc2mapGANConfig(NetworkConfig):
    """struc2mapGAN (Zhang, Condon & Dao Duc 2024): a U-Net++ generator from simulated to
    experimental-like maps, and a 3D convolutional discriminator, trained together.

    See :class:`cryoray.models.struc2mapgan.Struc2mapGANModel`; inference runs the generator only.
    Training (:mod:`cryoray.train.gan`) reads the store's ``simulated`` map as input and its
    experimental ``input`` map as target. The defaults are the published sizes.

    Args:
        in_channels: input channels. Defaults to 1.
        out_channels: output channels. Defaults to 1.
        img_size: box side in voxels, a multiple of ``2 ** (len(features) - 1)``. Defaults to 32.
        features: generator channels per U-Net++ level. Defaults to (32, 64, 128, 256).
        disc_channels: discriminator convolution channels. Defaults to (32, 64, 128, 256).
        disc_strides: discriminator convolution strides. Defaults to (1, 1, 1, 1).
        disc_hidden: discriminator fully connected widths. Defaults to (100, 25).
        input_scale: simulated density the generator sees as 1.0. Defaults to 2.0.
        norm: normalisation. Defaults to ``"instance"``.
        act: activation. Defaults to ``"prelu"``.
        dropout_rate: generator dropout. Defaults to 0.0.
    """

    check = staticmethod(check_struc2mapgan)

    name: Literal["struc2mapgan"] = "struc2mapgan"
    in_channels: int = 1
    out_channels: int = 1
    img_size: int = 32
    features: tuple[int, ...] = (32, 64, 128, 256)
    disc_channels: tuple[int, ...] = (32, 64, 128, 256)
    disc_strides: tuple[int, ...] = (1, 1, 1, 1)
    disc_hidden: tuple[int, ...] = (100, 25)
    input_scale: float = 2.0
    norm: LayerSpec = "instance"
    act: LayerSpec = "prelu"
    dropout_rate: float = 0.0


def _known_name(data: object, handler: Callable[[object], NetworkConfig]) -> NetworkConfig:
    """Report an unknown or missing ``name`` at ``<section>.name``, listing the choices."""
    if isinstance(data, dict) and data.get("name") not in _NAMES:
        given = f"unknown model {data['name']!r}" if "name" in data else "missing model name"
        error = PydanticCustomError(
            "model_name", "{given}; choose one of: {choices}", {"given": given, "choices": ", ".join(_NAMES)}
        )
        raise ValidationError.from_exception_data(
            "ModelConfig", [InitErrorDetails(type=error, loc=("name",), input=data.get("name"))]
        )
    return handler(data)


#: Any model config, picked by its ``name``.
ModelConfig = Annotated[
    UNETRConfig
    | UNetConfig
    | UNETRPPConfig
    | SegFormer3DConfig
    | CryoTENConfig
    | Cryo2StructConfig
    | CryoResConfig
    | CryoSAMUConfig
    | Struc2mapGANConfig,
    Field(discriminator="name"),
    WrapValidator(_known_name),
]

_NAMES: tuple[str, ...] = tuple(cls.model_fields["name"].default for cls in get_args(get_args(ModelConfig)[0]))
