"""The read task (Ray Data ``flat_map``, one per entry): read, prepare and cut a map into box rows."""

from __future__ import annotations

import logging
import time

import numpy as np

from cryoray.errors import InputError
from cryoray.infer.batch.entries import EntryFailure, EntryMeta
from cryoray.infer.batch_config import BatchInferConfig, BatchRow
from cryoray.infer.inputs import prepare_input
from cryoray.infer.recipe import Recipe
from cryoray.io.density_map import DensityMap
from cryoray.io.mrc import read_map
from cryoray.modelbuild import read_chains
from cryoray.pipelines.entry import _retry

__all__ = ["tile_entry"]
log = logging.getLogger(__name__)

#: boxes cut per slice of the prepared map (bounds the task's copies, not the rows it returns)
_CUT = 64


def _failure_row(failure: EntryFailure, box: int) -> dict[str, object]:
    """One dummy box carrying the failure to the driver (through the predictors, like every row)."""
    return {
        "entry_id": failure.entry_id,
        "origin": np.zeros(3, np.int64),
        "box": np.zeros((box, box, box), np.float32),
        "meta": failure,
    }


def _read(row: BatchRow, config: BatchInferConfig) -> DensityMap | list[DensityMap]:
    def attempt(source: str) -> DensityMap:
        return _retry(lambda: read_map(source), config.retries, config.retry_delay)

    if row.half_map_1 and row.half_map_2:
        return [attempt(row.half_map_1), attempt(row.half_map_2)]
    return attempt(row.map)


def tile_entry(item: dict[str, str], *, config: BatchInferConfig, recipe: Recipe, building: bool) -> list[dict]:
    """One entry → its box rows ``{entry_id, origin, box, meta: EntryMeta}``, or one failure row; never raises.

    The sequence is read here too when a model is built for the entry, so a bad FASTA fails the
    entry before its boxes are predicted.
    """
    row = BatchRow.model_validate_json(item["row"])
    try:
        t0 = time.perf_counter()
        density = _read(row, config)
        sequence = row.sequence if building and row.sequence else None
        if sequence is not None:
            _retry(lambda: read_chains(sequence), config.retries, config.retry_delay)
        prepared = prepare_input(density, recipe.prepare, source=row.map)
        data = prepared.passes[0].data
        plan = recipe.plan(data.shape)
        normalization = prepared.record.normalization
        meta = EntryMeta(
            map=row.map,
            sequence=sequence,
            source_frame=prepared.record.source_frame,
            frame=prepared.density.frame,
            normalization=None if normalization is None else normalization.to_dict(),
            n_boxes=len(plan),
            read_seconds=round(time.perf_counter() - t0, 3),
        )
        return [
            {"entry_id": row.entry_id, "origin": origin.astype(np.int64), "box": box[0], "meta": meta}
            for origins, boxes in plan.batches(data, _CUT)
            for origin, box in zip(origins, boxes, strict=True)
        ]
    except Exception as exc:
        if not isinstance(exc, InputError):
            log.exception("internal error on %s", row.entry_id)
        return [_failure_row(EntryFailure.of(row.entry_id, exc, input_stage=True), recipe.tiling.box)]
