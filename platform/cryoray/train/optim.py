"""Optimisers and learning-rate schedules from the config."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from cryoray.train.config import OptimizerConfig, ScheduleConfig

__all__ = ["Schedule", "build_optimizer", "range_test_lr"]


def build_optimizer(config: OptimizerConfig, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    kinds = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "nadam": torch.optim.NAdam}
    if config.name == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return kinds[config.name](params, lr=config.lr, weight_decay=config.weight_decay)


def range_test_lr(step: int, total_steps: int, min_lr: float, max_lr: float) -> float:
    """The rate of optimiser step ``step`` (1-based) of a range test: ``min_lr`` at the first step,
    ``max_lr`` from step ``total_steps`` on, growing by the same factor each step."""
    return min_lr * (max_lr / min_lr) ** (min(step - 1, total_steps - 1) / max(1, total_steps - 1))


class Schedule:
    """Warm-up, then ReduceLROnPlateau (stepped on validation loss), cosine (stepped per step) or a
    range test's exponential growth (:func:`range_test_lr`).

    One object with one state dict, so a checkpoint restores the whole schedule. Written here
    because torch's ``SequentialLR`` cannot chain a warm-up with ``ReduceLROnPlateau``.
    """

    def __init__(self, config: ScheduleConfig, optimizer: torch.optim.Optimizer, total_steps: int) -> None:
        self.config = config
        self.optimizer = optimizer
        self.total_steps = max(1, total_steps)
        self.base_lr = [g["lr"] for g in optimizer.param_groups]
        self.scale = 1.0  # plateau reductions so far
        self.best = math.inf
        self.bad_validations = 0
        self._apply(0)

    def _apply(self, step: int) -> None:
        c = self.config
        warm = min(1.0, (step + 1) / c.warmup_steps) if c.warmup_steps else 1.0
        for group, base in zip(self.optimizer.param_groups, self.base_lr, strict=True):
            if c.scheduler == "range_test":
                lr = range_test_lr(step + 1, self.total_steps, c.min_lr, base)
            elif c.scheduler == "cosine":
                t = min(1.0, max(0, step - c.warmup_steps) / max(1, self.total_steps - c.warmup_steps))
                lr = c.min_lr + (base - c.min_lr) * 0.5 * (1 + math.cos(math.pi * t))
            else:
                lr = max(c.min_lr, base * self.scale) if c.scheduler == "plateau" else base
            group["lr"] = lr * warm

    def step(self, step: int) -> None:
        """After optimiser step number ``step`` (1-based)."""
        self._apply(step)

    def validated(self, loss: float, step: int) -> None:
        """After a validation: plateau counting (× ``factor`` after ``patience`` bad ones)."""
        if self.config.scheduler != "plateau":
            return
        if loss < self.best:
            self.best, self.bad_validations = loss, 0
        else:
            self.bad_validations += 1
            if self.bad_validations > self.config.patience:
                self.scale *= self.config.factor
                self.bad_validations = 0
        self._apply(step)

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict:
        return {"scale": self.scale, "best": self.best, "bad_validations": self.bad_validations}

    def load_state_dict(self, state: dict) -> None:
        self.scale, self.best, self.bad_validations = (
            float(state["scale"]),
            float(state["best"]),
            int(state["bad_validations"]),
        )
