"""3D networks chosen by name in a YAML config; every one returns a dict of named outputs."""

from __future__ import annotations

from cryoray.models.config import (
    Cryo2StructConfig,
    CryoResConfig,
    CryoSAMUConfig,
    CryoTENConfig,
    ModelConfig,
    SegFormer3DConfig,
    Struc2mapGANConfig,
    UNetConfig,
    UNETRConfig,
    UNETRPPConfig,
)
from cryoray.models.registry import MODEL_NAMES, build_model

__all__ = [
    "MODEL_NAMES",
    "Cryo2StructConfig",
    "CryoResConfig",
    "CryoSAMUConfig",
    "CryoTENConfig",
    "ModelConfig",
    "SegFormer3DConfig",
    "Struc2mapGANConfig",
    "UNETRConfig",
    "UNETRPPConfig",
    "UNetConfig",
    "build_model",
]
