"""Sweep architectures, losses and hyperparameters with Ray Tune (each trial a Ray Train run).

The YAML config holds `train:` (a base training config, as for `cryoray train`), `space:`
(dotted keys of it -> grid / choice / uniform / loguniform / randint), `search:` (algorithm,
num_samples, metric, mode, max_concurrent), `scheduler:` (ASHA early stopping), `tracking:` and
`register_as:` (an MLflow registered-model name for the best trial's checkpoint). Every value of
the space is checked before any trial starts. Results: OUTPUT/NAME/trials.txt and sweep.png, an
MLflow parent run with a child run per trial.

Example usage:
  $ cryoray tune sweep.yaml
  $ cryoray tune sweep.yaml --set search.num_samples=8
  $ cryoray tune sweep.yaml --resume
  $ ray job submit --working-dir . -- python jobs/tune.py sweep.yaml
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
        what="sweep",
        example_set="search.num_samples=8",
        resume_help="continue an interrupted sweep of the same name; finished trials are kept",
    )


def main(args: argparse.Namespace) -> None:
    # Imported here: torch, Ray Train and MLflow load only when this command runs.
    from cryoray.tune import SweepConfig, run_sweep

    sweep = load_config_with_sets(SweepConfig, args.config, args.sets)
    result = run_sweep(
        sweep,
        source=args.config,
        resume=args.resume,
        address=args.address,
        num_cpus=args.num_cpus,
        progress=not args.quiet,
    )
    if args.json:
        emit(args, {k: v for k, v in asdict(result).items() if k != "table"})
        return
    print(result.table)
    emit(args, {k: v for k, v in asdict(result).items() if k not in ("table", "trials")})
