"""Tiny configurations of every network (fast on 2 CPU cores) and test helpers."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from cryoray.models import SegFormer3DConfig, UNetConfig, UNETRConfig, UNETRPPConfig
from cryoray.models.config import NetworkConfig

#: One small, fast config per model name; each takes 16³ boxes.
TINY: dict[str, NetworkConfig] = {
    "unetr": UNETRConfig(img_size=16, feature_size=4, hidden_size=32, mlp_dim=64, num_heads=4),
    "unet": UNetConfig(img_size=16, channels=(4, 8, 16), strides=(2, 2), num_res_units=1),
    "unetrpp": UNETRPPConfig(
        img_size=16, feature_size=4, dims=(8, 16, 32), depths=(1, 1, 1), proj_sizes=(8, 8, 4), num_heads=2
    ),
    "segformer3d": SegFormer3DConfig(
        img_size=16,
        embed_dims=(8, 16),
        num_heads=(2, 4),
        depths=(1, 1),
        sr_ratios=(2, 1),
        patch_kernel_sizes=(3, 3),
        patch_strides=(2, 2),
        decoder_dim=8,
    ),
}


def box(batch: int = 2, side: int = 16, channels: int = 1, seed: int = 0) -> torch.Tensor:
    """A random float32 batch ``(batch, channels, side, side, side)``."""
    return torch.randn(batch, channels, side, side, side, generator=torch.Generator().manual_seed(seed))


def parameters_without_gradient(model: nn.Module, outputs: dict[str, torch.Tensor]) -> list[str]:
    """Backpropagate the sum of all outputs; the names of parameters left without a gradient.

    An empty list is what DDP needs (it fails on parameters that get no gradient).
    """
    model.zero_grad(set_to_none=True)
    sum(output.sum() for output in outputs.values()).backward()
    return [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]


def parameter_count(build: Callable[[], nn.Module]) -> int:
    """Parameters of the network ``build()`` makes, built on the meta device (no memory, no init)."""
    with torch.device("meta"):
        return sum(p.numel() for p in build().parameters())
