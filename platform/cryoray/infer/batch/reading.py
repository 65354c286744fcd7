"""The read task (Ray Data ``flat_map``, one per entry): read and prepare a map, hand it on in slabs.

A map goes on whole (one row) unless it is larger than ``actors.slab_voxels``: then in slabs
(:meth:`~cryoray.infer.TilePlan.slabs`), each with the input sections its boxes read, so that
several predictor actors share one large map instead of one actor holding up the pool.
"""

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

__all__ = ["read_entry"]
log = logging.getLogger(__name__)


def _failure_row(failure: EntryFailure) -> dict[str, object]:
    """The row that carries a failure to the driver (through the predictors, like every row)."""
    return {"entry_id": failure.entry_id, "meta": failure, "slab": None, "data": np.zeros((1, 1, 1), np.float32)}


def _read(row: BatchRow, config: BatchInferConfig) -> DensityMap | list[DensityMap]:
    def attempt(source: str) -> DensityMap:
        return _retry(lambda: read_map(source), config.retries, config.retry_delay)

    if row.half_map_1 and row.half_map_2:
        return [attempt(row.half_map_1), attempt(row.half_map_2)]
    return attempt(row.map)


def read_entry(item: dict[str, str], *, config: BatchInferConfig, recipe: Recipe, building: bool) -> list[dict]:
    """One entry → its slab rows ``{entry_id, meta: EntryMeta, slab: Slab, data}``, or one failure row; never raises.

    ``data`` is the prepared map's z-sections the slab's boxes read. The sequence is read here
    too when a model is built for the entry, so a bad FASTA fails the entry before it is predicted.
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
        slabs = plan.slabs(max(1, config.actors.slab_voxels // (data.shape[1] * data.shape[2])))
        normalization = prepared.record.normalization
        meta = EntryMeta(
            map=row.map,
            sequence=sequence,
            source_frame=prepared.record.source_frame,
            frame=prepared.density.frame,
            normalization=None if normalization is None else normalization.to_dict(),
            n_boxes=len(plan),
            n_slabs=len(slabs),
            read_seconds=round(time.perf_counter() - t0, 3),
        )
        return [{"entry_id": row.entry_id, "meta": meta, "slab": s, "data": data[s.read_lo : s.read_hi]} for s in slabs]
    except Exception as exc:
        if not isinstance(exc, InputError):
            log.exception("internal error on %s", row.entry_id)
        return [_failure_row(EntryFailure.of(row.entry_id, exc, input_stage=True))]
