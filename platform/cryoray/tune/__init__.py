"""Sweeps over architectures, losses and hyperparameters with Ray Tune, tracked in MLflow."""

from __future__ import annotations

from cryoray.tune.config import Dimension, SchedulerConfig, SearchConfig, SweepConfig
from cryoray.tune.sweep import SweepResult, run_sweep

__all__ = ["Dimension", "SchedulerConfig", "SearchConfig", "SweepConfig", "SweepResult", "run_sweep"]
