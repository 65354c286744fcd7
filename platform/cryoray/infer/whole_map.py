"""Whole-map prediction: prepare → tile → predict in batches → stitch → back onto the input's grid.

:func:`predict_map` composes the pieces for the CLI; :func:`run_plan` is the loop in the middle
(boxes of a prepared map through one or more predictors into a :class:`Stitcher`), for callers
that bring their own sink (e.g. model building keeps only Cα candidates).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cryoray.infer.channels import OutputChannel, output_channels, predict_channels
from cryoray.infer.config import InferConfig
from cryoray.infer.frame import to_source_frame
from cryoray.infer.inputs import HalfMapMode, PreparedInput, prepare_input
from cryoray.infer.masks import MaskMode, keep_input, mask_on
from cryoray.infer.predictor import Predictor
from cryoray.infer.recipe import Recipe
from cryoray.infer.stitching import DenseSink, Sink, Stitcher, TilePlan
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.preprocessing.config import MaskConfig
from cryoray.preprocessing.prepare import PrepareRecord
from cryoray.preprocessing.tiling import Tiling

__all__ = ["InferenceStats", "MapPrediction", "predict_map", "run_plan"]
log = logging.getLogger(__name__)


@dataclass
class InferenceStats:
    """Where the time went: boxes predicted, wall seconds, and seconds inside the predictors."""

    boxes: int = 0
    passes: int = 1
    seconds: float = 0.0
    forward_seconds: float = 0.0
    peak_open_sections: int = 0
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def overhead_share(self) -> float:
        """Share of the loop's time spent outside the predictors (tiling, stitching)."""
        return 0.0 if self.seconds <= 0 else max(0.0, 1.0 - self.forward_seconds / self.seconds)

    def to_dict(self) -> dict[str, object]:
        return {
            "boxes": self.boxes,
            "passes": self.passes,
            "seconds": round(self.seconds, 3),
            "forward_seconds": round(self.forward_seconds, 3),
            "overhead_share": round(self.overhead_share, 4),
            "peak_open_sections": self.peak_open_sections,
            "stages": {k: round(v, 3) for k, v in self.stages.items()},
        }


def run_plan(
    inputs: Sequence[np.ndarray],
    predictors: Sequence[Predictor],
    channels: Sequence[OutputChannel],
    plan: TilePlan,
    *,
    sink: Sink,
    batch_size: int,
    weights: np.ndarray | None = None,
) -> InferenceStats:
    """Every box of every input through every predictor; ``channels`` are stitched into ``sink``.

    Several inputs (both half maps) enter one weighted mean. Boxes go in plan order, one batch at
    a time, so memory holds one batch plus the stitcher's open sections.
    """
    stitcher = Stitcher(plan, len(channels), weights=weights, sink=sink, passes=len(inputs))
    used = sorted({c.predictor for c in channels})
    forward_before = sum(predictors[i].forward_seconds for i in used)
    start = time.perf_counter()
    step = max(1, len(plan) // 10)
    done = 0
    for first in range(0, len(plan), batch_size):
        for data in inputs:
            for origins, boxes in plan.batches(data, batch_size, start=first, stop=first + batch_size):
                stitcher.add(origins, predict_channels(predictors, channels, boxes))
        done = min(len(plan), first + batch_size)
        if done // step != (done - batch_size) // step:
            log.info("predicted %d of %d boxes", done, len(plan))
    stitcher.finish()
    return InferenceStats(
        boxes=len(plan) * len(inputs),
        passes=len(inputs),
        seconds=time.perf_counter() - start,
        forward_seconds=sum(predictors[i].forward_seconds for i in used) - forward_before,
        peak_open_sections=stitcher.peak_open_sections,
    )


@dataclass
class MapPrediction:
    """Stitched outputs on the prepared grid, and how to put them on the input's grid.

    Args:
        channels: what each of the ``data`` channels is.
        data: ``(C, nz, ny, nx)`` float32 on ``frame`` (memory-mapped when a scratch folder was given).
        frame: the prepared grid.
        record: what preparation did (``record.source_frame`` is the input's grid).
        tiling: how the map was cut.
        stats: timings.
        settings: where the recipe's settings came from (:meth:`Recipe.report`).
    """

    channels: list[OutputChannel]
    data: np.ndarray
    frame: GridFrame
    record: PrepareRecord
    tiling: Tiling
    stats: InferenceStats
    _sink: DenseSink | None = None
    settings: dict[str, dict] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [c.name for c in self.channels]

    def index(self, name: str) -> int:
        try:
            return self.names().index(name)
        except ValueError:
            raise KeyError(f"no output '{name}'; outputs are {self.names()}") from None

    def prepared(self, name: str) -> DensityMap:
        """Output ``name`` on the prepared grid."""
        return DensityMap(self.data[self.index(name)], self.frame, labels=(f"cryoray predict {name}",))

    def on_source_frame(self, name: str, *, order: int | None = None) -> DensityMap:
        """Output ``name`` on the input's grid: cubic for values, trilinear for probabilities (default)."""
        channel = self.channels[self.index(name)]
        order = (1 if channel.classification else 3) if order is None else order
        return to_source_frame(self.prepared(name), self.record.source_frame, order=order)

    def close(self) -> None:
        """Release the outputs (removes the memory-mapped file, if any)."""
        self.data = None  # type: ignore[assignment]
        if self._sink is not None:
            self._sink.close()


def predict_map(
    density: DensityMap | Sequence[DensityMap],
    predictors: Predictor | Sequence[Predictor],
    config: InferConfig | None = None,
    *,
    heads: Sequence[str] | None = None,
    halves: HalfMapMode = "average",
    mask: MaskConfig | None = None,
    mask_mode: MaskMode = "zero",
    scratch_dir: str | os.PathLike | None = None,
    source: object = "map",
) -> MapPrediction:
    """Predict a whole map (or two half maps) with one or more predictors.

    Args:
        density: the input map in its own frame, or two half maps (see :mod:`cryoray.infer.inputs`).
        predictors: one predictor, or several taking the same box (their heads are all predicted).
        config: tiling, blending, batch size, preparation (defaults: :class:`InferConfig`); what
            it leaves unset comes from the models' bundles (see :class:`Recipe`).
        heads: heads to keep (default: all).
        halves: ``average`` or ``both`` for two half maps.
        mask: optional mask; ``mask_mode`` ``zero`` masks the input, ``keep`` keeps the input's
            density inside the mask in regression outputs (see :mod:`cryoray.infer.masks`).
        scratch_dir: memory-map the stitched outputs in this folder instead of memory.
        source: how errors name the input.

    Returns:
        the stitched outputs on the prepared grid; use :meth:`MapPrediction.on_source_frame`.
    """
    config = config or InferConfig()
    predictors = [predictors] if isinstance(predictors, Predictor) else list(predictors)
    specs = [p.spec for p in predictors]
    channels = output_channels(specs, heads)
    recipe = Recipe.for_models(specs, config, mask=mask if mask_mode == "zero" else None)
    t0 = time.perf_counter()
    prepared: PreparedInput = prepare_input(density, recipe.prepare, halves=halves, source=source)
    t_prepare = time.perf_counter() - t0
    shape = prepared.density.data.shape
    plan = recipe.plan(shape)
    log.info(
        "predicting %s voxels in %d boxes of %d³ (%s)", shape[::-1], len(plan), recipe.tiling.box, recipe.tiling.name
    )
    sink = DenseSink(shape, len(channels), directory=scratch_dir)
    stats = run_plan(
        [p.data for p in prepared.passes],
        predictors,
        channels,
        plan,
        sink=sink,
        batch_size=config.batch_size,
        weights=recipe.weights,
    )
    stats.stages["prepare"] = t_prepare
    if mask is not None and mask_mode == "keep":
        keep = mask_on(mask, prepared.density.frame)
        for i, channel in enumerate(channels):
            if not channel.classification:
                keep_input(sink.data[i], prepared.density.data, keep)
    elif mask_mode not in ("zero", "keep"):
        raise ValueError(f"`mask_mode` must be 'zero' or 'keep', got {mask_mode!r}")
    frame, record = prepared.density.frame, prepared.record
    return MapPrediction(channels, sink.data, frame, record, recipe.tiling, stats, sink, recipe.report())
