"""Learning-rate range test (L. Smith, "Cyclical learning rates", 2017): which rate to train with.

A short training whose rate grows exponentially from ``min_lr`` to ``max_lr`` (the
``range_test`` schedule) records each step's training loss. Smoothed (an exponential moving
average with bias correction, as the loss of one batch is noisy), the loss first barely moves,
then falls fastest, then flattens and blows up. The suggestion is the rate where the smoothed loss
falls fastest against log rate, looked for only before it first exceeds ``blowup`` × its minimum;
the rate at the minimum is reported too (a tenth of it is the other common rule).
The first ``1 / (1 - beta)`` steps, where the average still rests on a handful of batches, are
not searched; a smoothed loss whose minimum is not ``min_drop`` (:data:`MIN_DROP`) below its
median over the first quarter gives no suggestion: no rate in the range trains the config within
the test's steps (batch noise then hides any trend).

The run is an ordinary cryoray training (Ray Train, MLflow), named ``NAME-lr-range``: its
checkpoints are not meant for use, its curves are.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from cryoray.config import validate_config
from cryoray.errors import ConfigError
from cryoray.train.config import TrainConfig
from cryoray.train.optim import range_test_lr
from cryoray.train.run import keep_artifact, plan_training, run_training
from cryoray.train.tracking import Tracker
from cryoray.viz.training import save_lr_range

__all__ = ["MIN_DROP", "RangeTest", "analyse_range_test", "range_test_config", "run_range_test"]

#: how far (a fraction) the smoothed loss must fall for a suggestion
MIN_DROP = 0.2


@dataclass(frozen=True)
class RangeTest:
    """The curve of a range test and the rates read from it.

    Args:
        lrs, losses, smoothed: per optimiser step: its rate, its training loss, the smoothed loss.
        suggested_lr: where the smoothed loss falls fastest against log rate (before the blow-up);
            None when it never fell by ``min_drop``.
        min_loss_lr: the rate at the smoothed loss's minimum.
        blowup_step: the first step (0-based) whose smoothed loss exceeds ``blowup`` × the minimum
            so far, or None when it never did (then ``max_lr`` may be too low to see the edge).
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggested_lr: float | None
    min_loss_lr: float
    blowup_step: int | None

    def to_dict(self) -> dict[str, object]:
        return {
            "suggested_lr": self.suggested_lr,
            "min_loss_lr": self.min_loss_lr,
            "blew_up_at_lr": None if self.blowup_step is None else float(self.lrs[self.blowup_step]),
            "steps": len(self.lrs),
        }


def analyse_range_test(
    lrs: np.ndarray, losses: np.ndarray, *, beta: float = 0.9, blowup: float = 4.0, min_drop: float = MIN_DROP
) -> RangeTest:
    """Read a range test's curve (``lrs`` increasing, one loss per step); ValueError below 5 steps."""
    lrs, losses = np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    if lrs.shape != losses.shape or len(lrs) < 5:
        raise ValueError(f"a range test needs >= 5 steps with one rate and one loss each, got {lrs.shape}")
    smoothed = np.empty_like(losses)
    average = 0.0
    for i, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        smoothed[i] = average / (1 - beta ** (i + 1))
    start = min(round(1 / (1 - beta)), len(lrs) // 4)
    running_min = np.minimum.accumulate(smoothed)
    over = np.flatnonzero(~np.isfinite(smoothed) | (smoothed > blowup * running_min))
    blew_up = int(over[0]) if len(over) else None
    end = max(len(smoothed) if blew_up is None else blew_up, start + 2)
    searched = smoothed[start:end]
    fell = searched.min() < (1 - min_drop) * np.median(searched[: max(1, len(searched) // 4)])
    slope = np.gradient(searched, np.log(lrs[start:end]))
    return RangeTest(
        lrs=lrs,
        losses=losses,
        smoothed=smoothed,
        suggested_lr=float(lrs[start + int(np.argmin(slope))]) if fell else None,
        min_loss_lr=float(lrs[start + int(np.argmin(searched))]),
        blowup_step=blew_up,
    )


def range_test_config(config: TrainConfig, *, steps: int, min_lr: float, max_lr: float, source: object) -> TrainConfig:
    """``config`` made a range test of ``steps`` optimiser steps from ``min_lr`` to ``max_lr``.

    Raises:
        ConfigError: fewer than 5 steps, or not ``0 < min_lr < max_lr``.
    """
    if steps < 5:
        raise ConfigError("--steps", f"a range test needs at least 5 steps, got {steps}")
    if not (math.isfinite(max_lr) and 0 < min_lr < max_lr):
        raise ConfigError("--min-lr/--max-lr", f"need 0 < --min-lr < --max-lr, got {min_lr:g} and {max_lr:g}")
    data = config.model_dump()
    data["name"] = f"{config.name}-lr-range"
    data["optimizer"]["lr"] = max_lr
    data["schedule"].update(scheduler="range_test", min_lr=min_lr, warmup_steps=0, max_steps_per_epoch=steps)
    per_epoch = plan_training(validate_config(TrainConfig, data, source=source), source=source).steps_per_epoch
    data["schedule"]["epochs"] = -(-steps // per_epoch)  # an epoch shorter than ``steps``: several
    data["schedule"]["max_steps_per_epoch"] = -(-steps // data["schedule"]["epochs"])
    return validate_config(TrainConfig, data, source=source)


def run_range_test(
    config: TrainConfig,
    *,
    steps: int,
    min_lr: float,
    max_lr: float,
    source: object,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: bool = True,
) -> tuple[RangeTest, dict[str, object]]:
    """Run the range test of ``config``, read its curve back from MLflow, and keep ``lr_range.json``
    and ``lr_range.png`` in the run folder and in MLflow: (the test, the summary in the JSON)."""
    test_config = range_test_config(config, steps=steps, min_lr=min_lr, max_lr=max_lr, source=source)
    result = run_training(test_config, source=source, address=address, num_cpus=num_cpus, progress=progress)
    tracker = Tracker(result.tracking_uri, result.mlflow_run_id)
    points = sorted(dict(tracker.history("train/loss")).items())  # one value per step
    total = plan_training(test_config, source=source).total_steps  # as the loop's schedule counts them
    lrs = [range_test_lr(step, total, min_lr, max_lr) for step, _ in points]
    test = analyse_range_test(np.array(lrs), np.array([value for _, value in points]))
    summary = {**test.to_dict(), "run_dir": result.run_dir, "mlflow_run_id": result.mlflow_run_id}
    text = json.dumps(summary, indent=1)
    keep_artifact(tracker, result.run_dir, "lr_range.json", lambda path: path.write_text(text))
    marks = {"suggested": test.suggested_lr, "minimum": test.min_loss_lr}
    marks = {name: lr for name, lr in marks.items() if lr is not None}
    keep_artifact(
        tracker,
        result.run_dir,
        "lr_range.png",
        lambda path: save_lr_range(path, test.lrs, test.losses, test.smoothed, marks),
    )
    return test, summary
