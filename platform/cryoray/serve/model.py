"""The model deployment: one network per replica, predicting box batches gathered across requests.

Requests (the ingress, one call per few boxes) call :meth:`ModelServer.predict_boxes` with
``(boxes (n, 1, b, b, b) float32, heads)``; ``@serve.batch`` gathers the calls that arrive
within ``batch_wait_timeout_s`` into one forward pass of at most ``max_batch_size`` boxes
(counted in boxes, not calls), whichever requests they come from. Batching settings arrive as
the deployment's ``user_config`` (:meth:`reconfigure`), so they change without a restart.
The replica counts the batches it ran (:meth:`info`), so batching can be observed.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from ray import serve

__all__ = ["ModelServer"]


def _count_boxes(items: Sequence[tuple[np.ndarray, tuple[str, ...]]]) -> int:
    return sum(len(boxes) for boxes, _ in items)


@serve.deployment(name="model")
class ModelServer:
    """Holds one :class:`~cryoray.infer.Predictor` (safetensors weights only) and predicts batches.

    Args:
        name: the model's name in the registry.
        reference: checkpoint directory or MLflow registered model.
        tracking_uri: MLflow tracking URI for registered models.
        device / precision: see :class:`~cryoray.infer.InferConfig`.
    """

    def __init__(self, name: str, reference: str, *, tracking_uri: str | None, device: str, precision: str) -> None:
        from cryoray.infer.predictor import Predictor

        self.predictor = Predictor.from_reference(
            reference, tracking_uri=tracking_uri, device=device, precision=precision
        )
        #: what the ingress decides from (box, heads), under the registry's name
        self.spec = replace(self.predictor.spec, name=name, reference=reference)
        self.boxes_per_batch: Counter[int] = Counter()
        self.calls_per_batch: Counter[int] = Counter()

    def reconfigure(self, user_config: dict) -> None:
        """Batching settings (``max_batch_size``, ``batch_wait_timeout_s``) from the deployment's user_config."""
        self.predict_boxes.set_max_batch_size(int(user_config["max_batch_size"]))
        self.predict_boxes.set_batch_wait_timeout_s(float(user_config["batch_wait_timeout_s"]))

    def info(self) -> dict[str, object]:
        """Its :class:`~cryoray.infer.ModelSpec`, and the batches this replica has run (boxes per pass: count)."""
        return {
            "model": self.spec,
            "replica_pid": os.getpid(),
            "device": str(self.predictor.device),
            "boxes_predicted": self.predictor.boxes_predicted,
            "forward_seconds": round(self.predictor.forward_seconds, 3),
            "boxes_per_batch": dict(sorted(self.boxes_per_batch.items())),
            "calls_per_batch": dict(sorted(self.calls_per_batch.items())),
        }

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.02, batch_size_fn=_count_boxes)
    async def predict_boxes(self, items: list[tuple[np.ndarray, tuple[str, ...]]]) -> list[dict[str, np.ndarray]]:
        """Each item ``(boxes, heads)`` → ``{head: (n, C, b, b, b) float32}`` for its boxes."""
        sizes = [len(boxes) for boxes, _ in items]
        stacked = np.concatenate([boxes for boxes, _ in items]) if len(items) > 1 else items[0][0]
        # The forward pass runs in a thread so the replica keeps taking calls (the next batch fills meanwhile).
        outputs = await asyncio.to_thread(self.predictor.predict, stacked)
        self.boxes_per_batch[len(stacked)] += 1
        self.calls_per_batch[len(items)] += 1
        results = []
        start = 0
        for (_, heads), n in zip(items, sizes, strict=True):
            results.append({head: outputs[head][start : start + n] for head in heads})
            start += n
        return results
