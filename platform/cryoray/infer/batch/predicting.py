"""The predictor actors (Ray Data ``map_batches``): the models loaded once, box batches of any mix of entries."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cryoray.infer.channels import OutputChannel, predict_channels
from cryoray.infer.predictor import Predictor

__all__ = ["PredictActor"]


class PredictActor:
    """Loads the models once per actor; each call predicts a batch of box rows into ``pred`` ``(N, C, b, b, b)``."""

    def __init__(
        self, directories: Sequence[str], channels: Sequence[OutputChannel], device: str, precision: str
    ) -> None:
        self.predictors = [Predictor.from_checkpoint(d, device=device, precision=precision) for d in directories]
        self.channels = list(channels)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        boxes = np.ascontiguousarray(batch["box"], dtype=np.float32)[:, None]
        pred = predict_channels(self.predictors, self.channels, boxes)
        return {"entry_id": batch["entry_id"], "origin": batch["origin"], "meta": batch["meta"], "pred": pred}
