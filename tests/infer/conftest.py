"""Models for inference tests: an identity network and tiny random-weight checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
import torch
from torch import nn

from cryoray.infer import HeadSpec, Predictor
from cryoray.models import build_model
from cryoray.models.config import SegFormer3DConfig, UNETRPPConfig
from cryoray.train.checkpoints import TrainingState, save_checkpoint

#: a SegFormer3D small enough for CPU tests, with Cryo2Struct2's atom and amino-acid heads
TINY_SEGFORMER = {
    "name": "segformer3d",
    "img_size": 32,
    "embed_dims": [8, 16, 16, 32],
    "num_heads": [1, 2, 2, 4],
    "depths": [1, 1, 1, 1],
    "decoder_dim": 16,
    "dropout_rate": 0.0,
}
TINY_UNETRPP = {
    "name": "unetrpp",
    "img_size": 16,
    "feature_size": 4,
    "dims": [8, 16, 16, 32],
    "depths": [1, 1, 1, 1],
    "proj_sizes": [16, 16, 8, 4],
    "num_heads": 2,
    "dropout_rate": 0.0,
}
CE = {"terms": [{"kind": "weighted_ce"}]}


class Identity(nn.Module):
    """Returns its input as the one regression head ``output``."""

    heads = ("output",)
    out_channels_by_head: ClassVar[dict[str, int]] = {"output": 1}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"output": x.clone()}


def identity_predictor(box: int) -> Predictor:
    return Predictor(Identity(), {"output": HeadSpec("output", 1)}, box=box, device="cpu")


def write_checkpoint(directory: Path, model_config: dict, targets: dict, *, seed: int = 0) -> Path:
    """A checkpoint of a freshly initialised (random) network, as training writes it."""
    torch.manual_seed(seed)
    model = build_model(
        (SegFormer3DConfig if model_config["name"] == "segformer3d" else UNETRPPConfig).model_validate(model_config)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    config = {"name": "test", "data": {"store": "none.zarr"}, "model": model_config, "targets": targets}
    save_checkpoint(directory, model, optimizer, scheduler, TrainingState(), config)
    return directory


@pytest.fixture(scope="session")
def segformer_checkpoint(tmp_path_factory) -> Path:
    targets = {"atom": {"label": "atom", "loss": CE}, "amino_acid": {"label": "amino_acid", "loss": CE}}
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "segformer", TINY_SEGFORMER, targets)


@pytest.fixture(scope="session")
def enhance_checkpoint(tmp_path_factory) -> Path:
    targets = {"output": {"label": "simulated", "loss": {"terms": [{"kind": "masked_mse"}]}}}
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "unetrpp", TINY_UNETRPP, targets)
