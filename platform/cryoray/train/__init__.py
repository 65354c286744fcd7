"""Data-parallel training on Ray Train: config, per-worker loop, checkpoints, MLflow tracking."""

from __future__ import annotations

from cryoray.train.config import TrainConfig
from cryoray.train.examples import EXAMPLES, example_config, train_sample
from cryoray.train.run import RunResult, TrainPlan, plan_training, run_training

__all__ = [
    "EXAMPLES",
    "RunResult",
    "TrainConfig",
    "TrainPlan",
    "example_config",
    "plan_training",
    "run_training",
    "train_sample",
]
