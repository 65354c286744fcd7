"""What a training loop reports as it runs, shared by the plain and the adversarial loop.

Rank 0 logs every step's metrics to MLflow (written ``LOG_EVERY`` steps at a time: one write
per step would cost more than a small step), sends progress to the driver's inbox (calls not
waited for), and records validations and each epoch's throughput. On other ranks every call
does nothing, so the loops call it unconditionally.
"""

from __future__ import annotations

from pathlib import Path

from cryoray.train.tracking import Tracker

__all__ = ["LOG_EVERY", "RunLog"]

LOG_EVERY = 10  # steps per MLflow write (metrics are logged for every step)


class RunLog:
    """The reports of one worker's training loop (see module docs).

    Args:
        loop_config: the loop's config (``tracking_uri``, ``run_id``, ``progress``).
        rank: this worker's world rank; only rank 0 reports.
    """

    def __init__(self, loop_config: dict, rank: int) -> None:
        self.tracker = Tracker(loop_config["tracking_uri"], loop_config["run_id"]) if rank == 0 else None
        self.inbox = loop_config.get("progress") if rank == 0 else None
        self.pending: dict[int, dict[str, float]] = {}

    def restored(self, step: int) -> None:
        """A run resumed from a checkpoint of ``step``."""
        if self.tracker:
            self.tracker.metrics({"restored_from_step": step}, step)

    def step(self, step: int, epoch: int, loss: float, values: dict[str, float]) -> None:
        """One optimiser step: its loss to the driver, ``values`` to MLflow."""
        if self.inbox is not None:
            self.inbox.put.remote({"step": step, "epoch": epoch, "loss": loss})
        if self.tracker:
            self.pending[step] = values
            if len(self.pending) >= LOG_EVERY:
                self.flush()

    def epoch_done(self, step: int, seen: int, seconds: float) -> None:
        """An epoch ended at ``step`` after ``seen`` sub-grids in ``seconds``."""
        if self.tracker:
            self.pending.setdefault(step, {})["train/subgrids_per_s_per_worker"] = seen / max(1e-9, seconds)

    def validated(self, step: int, metrics: dict[str, float], picture: Path | None = None) -> None:
        """A validation's ``metrics`` (step 0: the untrained baseline), and its sample picture."""
        if self.tracker:
            self.flush()
            self.tracker.metrics(metrics, step)
            if picture is not None:
                self.tracker.artifact(picture, "samples")
        if self.inbox is not None:
            self.inbox.put.remote({"step": step, "val": metrics})

    def flush(self) -> None:
        """Write the steps' metrics held back so far."""
        if self.tracker:
            for step, values in sorted(self.pending.items()):
                self.tracker.metrics(values, step)
        self.pending.clear()
