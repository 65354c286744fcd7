"""Checkpoints without pickle: weights in safetensors, optimiser state for ``weights_only`` loading.

A checkpoint directory holds ``model.safetensors`` (the network, no DDP prefix),
``training_state.pt`` (optimiser, scheduler, step, epoch; tensors and plain values only,
loaded with ``torch.load(weights_only=True)``), ``state.json`` (step, epoch, metrics: readable
without torch), ``config.yaml`` (the run's config, enough to rebuild the model and resume) and
``bundle.json``: with the weights, a model bundle (:mod:`cryoray.bundle`) that inference loads
as it is, whose preprocessing is the one the training store was ingested with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from pydantic import TypeAdapter
from safetensors.torch import load_file, save_file

from cryoray.bundle import WEIGHTS, Bundle, HeadSpec, Preprocessing, provenance, write_bundle
from cryoray.models import ModelConfig
from cryoray.preprocessing.tiling import Tiling
from cryoray.train.targets import head_specs

__all__ = [
    "TrainingState",
    "load_checkpoint",
    "load_weights",
    "save_checkpoint",
    "store_preprocessing",
    "training_bundle",
    "unwrap",
]

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


def store_preprocessing(store: Mapping[str, Any], box: int, heads: tuple[HeadSpec, ...]) -> Preprocessing:
    """The preprocessing of a network of ``box``³ trained on a store with these settings.

    ``store`` holds the store's ``prepare`` settings (voxel size, percentile, normalisation) and
    its ``tiling``, which becomes the network's when it cuts boxes of the network's size (else
    the tiling is left to the box). What the store does not record is cryoray's default.
    """
    default = Preprocessing.assumed(regression_only=not any(h.classification for h in heads))
    prepare = store.get("prepare") or {}
    tiling = store.get("tiling")
    return Preprocessing(
        voxel_size=float(prepare.get("voxel_size", default.voxel_size)),
        percentile=float(prepare.get("percentile", default.percentile)),
        normalize=bool(prepare.get("normalize", default.normalize)),
        tiling=Tiling(**tiling) if tiling and tiling["box"] == box else None,
    )


def training_bundle(
    model: torch.nn.Module, config: Mapping[str, Any], state: TrainingState, training: Mapping[str, Any] | None
) -> Bundle:
    """The bundle description of a training checkpoint of ``model`` under the run's ``config``.

    ``training`` (from the driver) names the run's MLflow run and the store with its settings
    (``store``: ``url``, ``prepare``, ``tiling``); without a store, the preprocessing is
    cryoray's default for the heads (and the provenance says so).
    """
    network = TypeAdapter(ModelConfig).validate_python(config["model"])
    labels = {head: target["label"] for head, target in config["targets"].items()}
    heads = head_specs(unwrap(model).out_channels_by_head, labels)
    training = dict(training or {})
    store = training.get("store")
    if store:
        preprocessing = store_preprocessing(store, network.img_size, heads)
    else:
        preprocessing = Preprocessing.assumed(regression_only=not any(h.classification for h in heads))
        training["preprocessing"] = "cryoray's default (no store settings known)"
    run = {"run": config.get("name"), "step": state.step, "epoch": state.epoch, **training}
    return Bundle(network.model_dump(mode="json"), heads, preprocessing, provenance(training=run))


def save_checkpoint(
    directory: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: object,
    state: TrainingState,
    config: dict,
    *,
    training: Mapping[str, Any] | None = None,
) -> None:
    """Write a checkpoint into ``directory`` (created); ``training`` as for :func:`training_bundle`."""
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
    write_bundle(directory, training_bundle(model, config, state, training))


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
