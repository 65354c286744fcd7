"""Learning-rate range test: a short training with the rate growing exponentially, and the rate to use.

The config's model, data, losses and workers train for --steps optimiser steps while the rate
rises from --min-lr to --max-lr (schedule.scheduler range_test; optimizer.lr and the schedule are
overridden). The smoothed training loss against the rate gives the suggestion: where it falls
fastest, before it blows up. lr_range.json and lr_range.png go to OUTPUT/NAME-lr-range/ and to
the run in MLflow, as a training's curves do.

Example usage:
  $ cryoray lr-range builder.yaml
  $ cryoray lr-range builder.yaml --steps 200 --min-lr 1e-6 --max-lr 1 --set batch_size=8
"""

from __future__ import annotations

import argparse
import sys

from cryoray.cli.options import add_run_args
from cryoray.cli.output import emit
from cryoray.config import load_config_with_sets


def add_args(parser: argparse.ArgumentParser) -> None:
    add_run_args(parser, what="training", example_set="batch_size=8")
    parser.add_argument("--steps", type=int, default=100, help="optimiser steps (default: %(default)s)")
    parser.add_argument("--min-lr", type=float, default=1e-6, help="first rate (default: %(default)g)")
    parser.add_argument("--max-lr", type=float, default=1.0, help="last rate (default: %(default)g)")


def main(args: argparse.Namespace) -> None:
    # Imported here: torch, Ray Train and MLflow load only when this command runs.
    from cryoray.train import TrainConfig
    from cryoray.train.lr_range import MIN_DROP, run_range_test

    config = load_config_with_sets(TrainConfig, args.config, args.sets)
    test, summary = run_range_test(
        config,
        steps=args.steps,
        min_lr=args.min_lr,
        max_lr=args.max_lr,
        source=args.config,
        address=args.address,
        num_cpus=args.num_cpus,
        progress=not args.quiet,
    )
    if test.suggested_lr is None:
        print(
            f"lr-range: the smoothed loss never fell by {MIN_DROP:.0%}: no rate in the range trains this config "
            "within --steps steps (more steps, a larger batch, or another loss)",
            file=sys.stderr,
        )
    elif test.blowup_step is None and not args.quiet:
        print("lr-range: the loss never blew up; --max-lr may be too low to show the edge", file=sys.stderr)
    emit(args, summary)
