"""The training config: one validated YAML file for data, model, targets, optimiser and run."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fsspec.core import split_protocol
from pydantic import (
    AfterValidator,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cryoray.config import Section
from cryoray.data import DataConfig
from cryoray.losses import LossConfig
from cryoray.models import ModelConfig
from cryoray.store import LABEL_KINDS
from cryoray.train.gan_config import GANConfig, check_gan_settings

__all__ = [
    "CheckpointConfig",
    "OptimizerConfig",
    "RunName",
    "ScheduleConfig",
    "TargetConfig",
    "TrackingConfig",
    "TrainConfig",
    "WorkersConfig",
    "is_remote",
]


def _one_folder(name: str) -> str:
    # The run's folder is OUTPUT/NAME: '.', '..', '/' or a leading '-' would put it elsewhere.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ValueError(
            f"{name!r} is not a run name: one folder name of letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return name


#: A run (or sweep) name: one safe path component, the run's folder under ``output``.
RunName = Annotated[str, AfterValidator(_one_folder)]


def is_remote(url: str) -> bool:
    """True for fsspec URLs outside the local filesystem (``s3://``, ``gs://``...)."""
    return split_protocol(url)[0] not in (None, "file", "local")


class TargetConfig(Section):
    """What one model head learns: a label array of the store and the loss against it."""

    label: str
    loss: LossConfig

    @model_validator(mode="after")
    def _known_label(self) -> TargetConfig:
        if self.label not in LABEL_KINDS:
            raise ValueError(f"unknown label '{self.label}' (known: {', '.join(LABEL_KINDS)})")
        return self


class OptimizerConfig(Section):
    """Optimiser (Cryo2Struct: NAdam 1e-4; CryoTEN: Adam 5e-4)."""

    name: Literal["adam", "adamw", "nadam", "sgd"] = "adam"
    lr: PositiveFloat = 1e-4
    weight_decay: float = Field(0.0, ge=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)


class ScheduleConfig(Section):
    """Epochs, validation cadence and learning-rate schedule.

    Args:
        epochs: passes over the training split.
        val_every_steps: also validate (and checkpoint) every N optimiser steps within epochs;
            0 = only at each epoch end (always done).
        max_steps_per_epoch: cut epochs short (quick runs, smoke tests); None = whole split.
        scheduler: ``plateau`` (ReduceLROnPlateau on the validation loss, as published),
            ``cosine`` (to ``min_lr`` over the run), ``none``, or ``range_test`` (from ``min_lr``
            up to the optimiser's ``lr``, exponentially over the run: ``cryoray lr-range``).
        warmup_steps: linear warm-up from 0 before the schedule.
    """

    epochs: PositiveInt = 10
    val_every_steps: NonNegativeInt = 0
    max_steps_per_epoch: PositiveInt | None = None
    scheduler: Literal["plateau", "cosine", "none", "range_test"] = "plateau"
    factor: float = Field(0.5, gt=0.0, lt=1.0)
    patience: NonNegativeInt = 2
    min_lr: float = Field(1e-5, ge=0.0)
    warmup_steps: NonNegativeInt = 0


class WorkersConfig(Section):
    """Data-parallel workers (one process each; gloo on CPU, nccl on GPU).

    ``data_cpus`` is kept free of training workers for Ray Data's read tasks: workers that
    take every CPU starve the reads and training hangs. ``placement_strategy`` is Ray's for the
    workers' placement group: ``PACK`` (default) fills one node before the next, ``SPREAD`` puts
    workers on different nodes where it can (one per node on a multi-node cluster; several on a
    node when fewer nodes are left, e.g. after one was lost).
    """

    num_workers: PositiveInt = 1
    use_gpu: bool = False
    cpus_per_worker: PositiveFloat = 1.0
    data_cpus: PositiveFloat = 1.0
    placement_strategy: Literal["PACK", "SPREAD"] = "PACK"


class CheckpointConfig(Section):
    """Keep the best ``keep`` checkpoints by ``metric`` (a reported metric name)."""

    keep: PositiveInt = 2
    metric: str = "val/loss"
    mode: Literal["min", "max"] = "min"


class TrackingConfig(Section):
    """MLflow: ``uri`` None = an sqlite database beside the runs (``OUTPUT/mlflow.db``; local output only)."""

    uri: str | None = None
    experiment: str = "cryoray"


class TrainConfig(Section):
    """A whole training run (see ``cryoray train --help`` and the example configs)."""

    name: RunName = "train"
    output: str = "runs"
    data: DataConfig
    model: ModelConfig
    targets: dict[str, TargetConfig] = Field(min_length=1)
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    batch_size: PositiveInt = 8
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    grad_clip: PositiveFloat | None = 1.0
    seed: int = 0
    workers: WorkersConfig = WorkersConfig()
    checkpoints: CheckpointConfig = CheckpointConfig()
    tracking: TrackingConfig = Field(TrackingConfig(), validate_default=True)  # checked against output
    max_failures: NonNegativeInt = 2
    gan: GANConfig | None = None  # adversarial models only (struc2mapgan); defaults when absent

    @field_validator("tracking")
    @classmethod
    def _remote_output_is_tracked(cls, tracking: TrackingConfig, info: ValidationInfo) -> TrackingConfig:
        output = info.data.get("output", "")
        if tracking.uri is None and is_remote(output):
            raise ValueError(
                f"tracking.uri must be set when output is remote ({output}): the default sqlite database "
                "OUTPUT/mlflow.db needs a local folder"
            )
        return tracking

    @model_validator(mode="after")
    def _gan_settings_fit_the_model(self) -> TrainConfig:
        self.gan_settings()
        return self

    @model_validator(mode="after")
    def _range_test_rises(self) -> TrainConfig:
        if self.schedule.scheduler == "range_test" and not 0 < self.schedule.min_lr < self.optimizer.lr:
            raise ValueError(
                f"schedule.scheduler range_test rises from schedule.min_lr to optimizer.lr: need "
                f"0 < min_lr < lr, got min_lr {self.schedule.min_lr:g} and lr {self.optimizer.lr:g}"
            )
        return self

    def gan_settings(self) -> GANConfig | None:
        """The adversarial settings when the model is a GAN (``gan`` or its defaults), else None."""
        return check_gan_settings(self.model.name, self.gan, {h: t.label for h, t in self.targets.items()})
