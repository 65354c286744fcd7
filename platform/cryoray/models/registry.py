"""Build a network from its config: the one place that maps a model name to a class."""

from __future__ import annotations

from torch import nn

from cryoray.models.config import ModelConfig, NetworkConfig
from cryoray.models.cryo2struct import Cryo2StructModel
from cryoray.models.cryores import CryoResModel
from cryoray.models.cryosamu import CryoSAMUModel
from cryoray.models.cryoten import CryoTENModel
from cryoray.models.segformer3d import SegFormer3DModel
from cryoray.models.struc2mapgan import Struc2mapGANModel
from cryoray.models.unet import UNetModel
from cryoray.models.unetr import UNETRModel
from cryoray.models.unetrpp import UNETRPPModel

__all__ = ["MODEL_NAMES", "build_model"]

_NETWORKS: dict[str, type[nn.Module]] = {
    "unetr": UNETRModel,
    "unet": UNetModel,
    "unetrpp": UNETRPPModel,
    "segformer3d": SegFormer3DModel,
    "cryoten": CryoTENModel,
    "cryo2struct": Cryo2StructModel,
    "cryores": CryoResModel,
    "cryosamu": CryoSAMUModel,
    "struc2mapgan": Struc2mapGANModel,
}

#: The names a config's ``model.name`` may take.
MODEL_NAMES: tuple[str, ...] = tuple(_NETWORKS)


def build_model(config: ModelConfig) -> nn.Module:
    """The network ``config`` describes, freshly initialised.

    Every network's ``forward(x)`` takes ``(B, in_channels, D, H, W)`` and returns a dict of
    full-resolution outputs named by its ``heads``, with ``out_channels_by_head`` channels each.
    """
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"`config` must be a model config, got {type(config).__name__}.")
    return _NETWORKS[config.name](**config.network_kwargs())
