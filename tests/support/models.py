"""Tiny networks (fast on 2 CPU cores), random-weight checkpoints of them, and model test helpers."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import torch
from pydantic import TypeAdapter
from safetensors.torch import save_file
from torch import nn

from cryoray.bundle import WEIGHTS, Bundle, Preprocessing, provenance, write_bundle
from cryoray.infer import HeadSpec, Predictor
from cryoray.models import ModelConfig, build_model
from cryoray.models.config import NetworkConfig
from cryoray.preprocessing.tiling import Tiling
from cryoray.train.checkpoints import TrainingState, save_checkpoint

#: One small, fast network per model name, as a config's ``model`` section; each takes 16³ boxes and 32³ ones.
_TINY_MODELS: dict[str, dict] = {
    "unetr": {"name": "unetr", "feature_size": 4, "hidden_size": 32, "mlp_dim": 64, "num_heads": 4},
    "unet": {"name": "unet", "channels": [4, 8, 16], "strides": [2, 2], "num_res_units": 1},
    "unetrpp": {
        "name": "unetrpp",
        "feature_size": 4,
        "dims": [8, 16, 32],
        "depths": [1, 1, 1],
        "proj_sizes": [8, 8, 4],
        "num_heads": 2,
    },
    "cryoten": {
        "name": "cryoten",
        "feature_size": 4,
        "hidden_size": 32,
        "num_heads": 2,
        "depths": [1, 1, 1, 1],
        "dims": [4, 8, 16, 32],
        "proj_sizes": [8, 8, 4, 2],
        "decoder_depths": [1, 1, 1],
        "decoder_proj_sizes": [8, 8, 4],
    },
    "cryo2struct": {"name": "cryo2struct", "embed_dim": 16, "num_heads": 2, "mlp_dim": 32, "base_filters": 2},
    "cryores": {"name": "cryores", "channels": [4, 8, 16], "num_res_units": 1, "hidden_size": 8},
    "cryosamu": {
        "name": "cryosamu",
        "channels": [4, 8, 16],
        "num_res_units": 1,
        "embedding_dim": 6,
        "embedding_tokens": 2,
        "bottleneck_depth": 1,
        "num_heads": 2,
        "mlp_dim": 16,
    },
    "struc2mapgan": {
        "name": "struc2mapgan",
        "features": [4, 8],
        "disc_channels": [4, 8],
        "disc_strides": [2, 2],
        "disc_hidden": [8],
    },
    "segformer3d": {
        "name": "segformer3d",
        "embed_dims": [8, 16],
        "num_heads": [2, 4],
        "depths": [1, 1],
        "sr_ratios": [2, 1],
        "patch_kernel_sizes": [3, 3],
        "patch_strides": [2, 2],
        "decoder_dim": 8,
    },
}

#: weighted cross-entropy, the loss of classification heads in test checkpoints
CE = {"terms": [{"kind": "weighted_ce"}]}


def tiny_model(name: str, img_size: int = 16, **changes: object) -> dict:
    """The tiny network ``name`` for ``img_size``³ boxes as a ``model`` section; ``changes`` override its keys."""
    return {**copy.deepcopy(_TINY_MODELS[name]), "img_size": img_size, **changes}


def model_config(section: dict) -> NetworkConfig:
    """A ``model`` section validated into its network's config class."""
    return TypeAdapter(ModelConfig).validate_python(section)


#: The tiny networks as validated configs (16³ boxes), by model name.
TINY: dict[str, NetworkConfig] = {name: model_config(tiny_model(name)) for name in _TINY_MODELS}


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


class Identity(nn.Module):
    """Returns its input as the one regression head ``output``."""

    heads = ("output",)
    out_channels_by_head: ClassVar[dict[str, int]] = {"output": 1}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The input, copied, as head ``output``."""
        return {"output": x.clone()}


def identity_predictor(box: int) -> Predictor:
    """A CPU predictor of ``box``³ boxes whose network returns its input."""
    return Predictor(Identity(), {"output": HeadSpec("output", 1)}, box=box, device="cpu")


def write_checkpoint(directory: Path, model_section: dict, targets: dict, *, seed: int = 0) -> Path:
    """A checkpoint of a freshly initialised (random) network, as training writes it."""
    torch.manual_seed(seed)
    model = build_model(model_config(model_section))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    config = {"name": "test", "data": {"store": "none.zarr"}, "model": model_section, "targets": targets}
    save_checkpoint(directory, model, optimizer, scheduler, TrainingState(), config)
    return directory


#: Cryo2Struct2's heads (atom and amino acid), as the classification checkpoints of tests have them
SEGMENT_TARGETS = {"atom": {"label": "atom", "loss": CE}, "amino_acid": {"label": "amino_acid", "loss": CE}}
#: the regression head onto the simulated map, as enhancement checkpoints have it
ENHANCE_TARGETS = {"output": {"label": "simulated", "loss": {"terms": [{"kind": "masked_mse"}]}}}

#: The networks of the test checkpoints: SegFormer3D with the published four stages on 32³ boxes, UNETR++
#: with four stages on 16³ ones. Tests calibrate thresholds on their random-weight outputs (P(Cα) of about
#: 0.25-0.31), so these stay as they are rather than becoming :func:`tiny_model` networks.
SEGMENT_MODEL = {
    "name": "segformer3d",
    "img_size": 32,
    "embed_dims": [8, 16, 16, 32],
    "num_heads": [1, 2, 2, 4],
    "depths": [1, 1, 1, 1],
    "decoder_dim": 16,
    "dropout_rate": 0.0,
}
ENHANCE_MODEL = {
    "name": "unetrpp",
    "img_size": 16,
    "feature_size": 4,
    "dims": [8, 16, 16, 32],
    "depths": [1, 1, 1, 1],
    "proj_sizes": [16, 16, 8, 4],
    "num_heads": 2,
    "dropout_rate": 0.0,
}


def write_segment_checkpoint(directory: Path) -> Path:
    """A random-weight SEGMENT_MODEL with Cryo2Struct2's atom and amino-acid heads."""
    return write_checkpoint(directory, SEGMENT_MODEL, SEGMENT_TARGETS)


def write_enhance_checkpoint(directory: Path) -> Path:
    """A random-weight ENHANCE_MODEL with one regression head onto the simulated map."""
    return write_checkpoint(directory, ENHANCE_MODEL, ENHANCE_TARGETS)


#: CryoRes's heads as its bundles state them: two regression heads (Å) and the two-class mask (no store labels yet)
CRYORES_HEADS = (
    HeadSpec("global", 1),
    HeadSpec("relative", 1),
    HeadSpec("mask", 2, class_names=("background", "molecule")),
)


def write_cryores_bundle(directory: Path, *, seed: int = 0, global_resolution: float = 5.0) -> Path:
    """A model bundle of the tiny CryoRes network with random weights: 16³ boxes every 8 voxels, 1 Å.

    The global head's output bias is ``global_resolution`` (Å), so resolutions come out positive.
    """
    torch.manual_seed(seed)
    model = build_model(TINY["cryores"])
    with torch.no_grad():
        model.global_head[-1].bias.fill_(global_resolution)
    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, directory / WEIGHTS)
    preprocessing = Preprocessing(voxel_size=1.0, percentile=99.0, tiling=Tiling("custom", box=16, stride=8))
    network = TINY["cryores"].model_dump(mode="json")
    write_bundle(
        directory,
        Bundle(network, CRYORES_HEADS, preprocessing, provenance(source={"made_by": "tests: random weights"})),
    )
    return directory
