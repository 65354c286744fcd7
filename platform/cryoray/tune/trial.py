"""One sweep trial: the training run of ``cryoray train``, reporting to Tune (not a fork of it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback

from cryoray.config import validate_config
from cryoray.train import TrainConfig, run_training
from cryoray.train.run import RUN_RECORD
from cryoray.tune.space import apply

__all__ = ["run_trial", "trial_config"]


def trial_config(context: Mapping[str, Any], assignment: Mapping[str, Any], trial_id: str) -> dict[str, Any]:
    """The trial's training config: the base with the drawn values, named after the trial,
    tracked in the sweep's MLflow, keeping checkpoints by the sweep's metric."""
    config = apply(context["base"], assignment)
    config["name"] = trial_id
    config["output"] = context["trials_dir"]
    config["tracking"] = {"uri": context["tracking_uri"], "experiment": context["experiment"]}
    config["checkpoints"] = {**config.get("checkpoints", {}), "metric": context["metric"], "mode": context["mode"]}
    return config


def run_trial(assignment: dict[str, Any], context: Mapping[str, Any]) -> None:
    """Function trainable: build the trial's config and train it with a Tune report callback.

    A trial restarted after an interrupted sweep continues its own run from its last checkpoint.
    """
    trial_id = tune.get_context().get_trial_id()
    config = validate_config(TrainConfig, trial_config(context, assignment, trial_id), source=f"trial {trial_id}")
    resume = (Path(context["trials_dir"]) / trial_id / RUN_RECORD).exists()
    run_training(
        config,
        source=f"trial {trial_id}",
        resume=resume,
        callbacks=[TuneReportCallback()],
        parent_run_id=context["parent_run_id"],
        progress=False,  # the sweep's driver shows progress over trials
    )
