"""Train a model on a sub-grid store with Ray Train (data-parallel; CPU or GPU workers).

The YAML config names the store, the model, each head's target label and loss, the optimiser,
schedule, workers and checkpoints (see the examples in cryoray/train/configs/). Everything is
checked before any worker starts. Metrics, the config and pictures go to MLflow (default: an
sqlite database OUTPUT/mlflow.db); checkpoints (safetensors) to OUTPUT/NAME/.

Example usage:
  $ cryoray train atoms.yaml
  $ cryoray train atoms.yaml --set schedule.epochs=3 --set workers.num_workers=2
  $ cryoray train atoms.yaml --resume
  $ ray job submit --working-dir . -- python jobs/train.py atoms.yaml
  $ mlflow ui --backend-store-uri sqlite:///runs/mlflow.db
"""

from __future__ import annotations

import argparse
from dataclasses import asdict

from cryoray.cli.options import add_run_args
from cryoray.cli.output import emit
from cryoray.config import load_config_with_sets


def add_args(parser: argparse.ArgumentParser) -> None:
    add_run_args(
        parser,
        what="training",
        example_set="schedule.epochs=3",
        resume_help="continue the run of the same name from its latest checkpoint",
    )


def main(args: argparse.Namespace) -> None:
    # Imported here: torch, Ray Train and MLflow load only when this command runs.
    from cryoray.train import TrainConfig, run_training

    config = load_config_with_sets(TrainConfig, args.config, args.sets)
    result = run_training(
        config,
        source=args.config,
        resume=args.resume,
        address=args.address,
        num_cpus=args.num_cpus,
        progress=not args.quiet,
    )
    emit(args, asdict(result))
