"""Checkpoints without pickle: weights in safetensors, optimiser state for ``weights_only`` loading.

A checkpoint directory holds ``model.safetensors`` (the network, no DDP prefix),
``training_state.pt`` (optimiser, scheduler, step, epoch; tensors and plain values only,
loaded with ``torch.load(weights_only=True)``), ``state.json`` (step, epoch, metrics: readable
without torch) and ``config.yaml`` (the run's config, enough to rebuild the model).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file, save_file

__all__ = ["TrainingState", "load_checkpoint", "load_weights", "save_checkpoint", "unwrap"]

WEIGHTS = "model.safetensors"
STATE = "training_state.pt"


@dataclass
class TrainingState:
    """Where training stands: optimiser steps taken, epochs completed, last metrics."""

    step: int = 0
    epoch: int = 0
    metrics: dict[str, float] = field(default_factory=dict)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The network inside a DDP wrapper (so weights load into a plain model)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def save_checkpoint(
    directory: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: object,
    state: TrainingState,
    config: dict,
) -> None:
    """Write a checkpoint into ``directory`` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().contiguous().cpu() for k, v in unwrap(model).state_dict().items()}
    save_file(weights, directory / WEIGHTS)
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": state.step,
            "epoch": state.epoch,
        },
        directory / STATE,
    )
    (directory / "state.json").write_text(
        json.dumps({"step": state.step, "epoch": state.epoch, "metrics": state.metrics}, indent=1)
    )
    (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def load_weights(directory: Path, model: torch.nn.Module) -> None:
    """Load ``model.safetensors`` into ``model`` (strict: every tensor must match)."""
    unwrap(model).load_state_dict(load_file(directory / WEIGHTS))


def load_checkpoint(
    directory: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: object
) -> TrainingState:
    """Restore model, optimiser and scheduler from ``directory``; returns the saved state."""
    load_weights(directory, model)
    saved = torch.load(directory / STATE, weights_only=True, map_location="cpu")
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    metrics = json.loads((directory / "state.json").read_text())["metrics"]
    return TrainingState(step=int(saved["step"]), epoch=int(saved["epoch"]), metrics=metrics)
