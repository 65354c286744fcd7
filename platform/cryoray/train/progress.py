"""Training progress on the driver's terminal (steps, epoch, loss, validation, rate, ETA).

The loop runs in Ray Train worker processes whose output never reaches the driver's terminal,
so rank 0 sends each step's loss and each validation's metrics to a small actor (no CPU), and a
thread of the driver draws what arrives with :class:`~cryoray.runtime.Progress`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from types import TracebackType

import ray
from ray.exceptions import RayError

from cryoray.runtime import Progress

__all__ = ["ProgressInbox", "TrainingProgress"]


@ray.remote(num_cpus=0)
class ProgressInbox:
    """Collects what rank 0 sends until the driver takes it."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def put(self, item: dict) -> None:
        self.items.append(item)

    def take(self) -> list[dict]:
        items, self.items = self.items, []
        return items


class TrainingProgress:
    """The driver's side: ``inbox`` (None when disabled) goes to the workers; ``with`` draws until fit ends.

    Args:
        total_steps: optimiser steps of the whole run.
        epochs: epochs of the run (for ``epoch e/E``).
        metrics: validation metrics to show (e.g. ``val/loss`` and the checkpoint metric).
        enabled: False starts no actor and writes nothing (sweep trials, ``--quiet``).
    """

    POLL_S = 0.5

    def __init__(self, total_steps: int, epochs: int, metrics: list[str], *, enabled: bool = True) -> None:
        self.epochs = epochs
        self.metrics = list(dict.fromkeys(metrics))
        self.progress = Progress("train", total_steps, unit="steps", enabled=enabled)
        self.latest: dict[str, object] = {}  # the last value of each figure shown
        self.inbox = ProgressInbox.remote() if enabled else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="train-progress", daemon=True)

    def show(self, item: Mapping[str, object]) -> None:
        """Draw one item from rank 0: ``{"step", "epoch", "loss"}`` or ``{"step", "val": {...}}``."""
        if "epoch" in item:
            self.latest["epoch"] = f"{item['epoch']}/{self.epochs}"
        if "loss" in item:
            self.latest["loss"] = item["loss"]
        values = item.get("val", {})
        self.latest.update({k: values[k] for k in self.metrics if k in values})
        order = ["epoch", "loss", *self.metrics]
        self.progress.figures = {k: self.latest[k] for k in order if k in self.latest}
        self.progress.update(int(item["step"]))

    def _drain(self) -> None:
        for item in ray.get(self.inbox.take.remote()):
            self.show(item)

    def _poll(self) -> None:
        while not self._stop.wait(self.POLL_S):
            self._drain()

    def __enter__(self) -> TrainingProgress:
        if self.inbox is not None:
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.inbox is None:
            return
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(RayError):  # a failed run's own error is the one to see
            self._drain()
            ray.kill(self.inbox)
        self.progress.close()
