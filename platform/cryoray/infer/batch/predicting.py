"""The predictor actors (Ray Data ``map_batches``, one slab per call): tile, predict, stitch, save.

Each actor loads the models once. For a slab of an entry it cuts the boxes from the slab's
input ``infer.batch_size`` at a time, predicts them and stitches them as they come (only about
a box depth of z-sections is open), handing finished sections to a memory-mapped ``.npy`` on
the node's disk (map channels) and to a candidate sink (model building); then it uploads both
under the output's ``.partial/`` and returns a :class:`SlabResult`. Memory per actor: one batch
of boxes, the open sections, and the slab's input (bounded by ``actors.slab_voxels``).
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from collections.abc import Sequence

import numpy as np

from cryoray.infer.batch.entries import EntryFailure, EntryMeta
from cryoray.infer.batch.partials import SlabResult, save_slab
from cryoray.infer.candidates import candidate_sink
from cryoray.infer.channels import OutputChannel, predict_channels
from cryoray.infer.predictor import Predictor
from cryoray.infer.recipe import Recipe
from cryoray.infer.stitching import CandidateSink, DenseSink, Slab

__all__ = ["PredictActor"]
log = logging.getLogger(__name__)


def _private_mib() -> float:
    """This process's private resident memory (``RssAnon``), MiB; 0 where ``/proc`` has none.

    Not ``ru_maxrss``: that also counts the object store's shared pages an actor has read, which
    grow with every slab that passes through it while its own memory stays the same.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class PredictActor:
    """Loads the models once per actor; each call predicts one slab row into a :class:`SlabResult`.

    Args:
        directories: the models' folders.
        channels: the channels predicted (maps first, then the build channels).
        map_index / build_index: which of ``channels`` are written as maps / go to model building.
        recipe: tiling and blend weights.
        output: the run's output prefix (slabs go under its ``.partial/``).
        device / precision / batch_size: as ``infer``.
    """

    def __init__(
        self,
        directories: Sequence[str],
        channels: Sequence[OutputChannel],
        map_index: Sequence[int],
        build_index: Sequence[int],
        recipe: Recipe,
        output: str,
        device: str,
        precision: str,
        batch_size: int,
    ) -> None:
        self.predictors = [Predictor.from_checkpoint(d, device=device, precision=precision) for d in directories]
        self.channels = list(channels)
        self.map_index, self.build_index = np.asarray(map_index, int), np.asarray(build_index, int)
        self.recipe, self.output, self.batch_size = recipe, output, batch_size
        self.peak_private_mib = _private_mib()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        results = [
            self._slab(entry_id, meta, slab, data)
            for entry_id, meta, slab, data in zip(
                batch["entry_id"], batch["meta"], batch["slab"], batch["data"], strict=True
            )
        ]
        return {"entry_id": list(batch["entry_id"]), "result": results}

    def _slab(
        self, entry_id: str, meta: EntryMeta | EntryFailure, slab: Slab | None, data: np.ndarray
    ) -> SlabResult | EntryFailure:
        if isinstance(meta, EntryFailure):
            return meta
        try:
            return self._predict(entry_id, meta, slab, np.asarray(data, dtype=np.float32))
        except Exception as exc:  # a model that cannot take the map, a full disk: the entry fails, the run goes on
            failure = EntryFailure.of(entry_id, exc, input_stage=True)
            if not failure.input_fault:
                log.exception("internal error predicting %s", entry_id)
            return failure

    def _predict(self, entry_id: str, meta: EntryMeta, slab: Slab, data: np.ndarray) -> SlabResult:
        t0 = time.perf_counter()
        plan = self.recipe.plan(meta.frame.shape)
        _, ny, nx = plan.shape
        with tempfile.TemporaryDirectory(prefix="cryoray-predict-") as scratch:
            dense = candidates = None
            sinks: list[tuple[DenseSink | CandidateSink, np.ndarray]] = []
            if len(self.map_index):
                dense = DenseSink((slab.hi - slab.lo, ny, nx), len(self.map_index), directory=scratch, z0=slab.lo)
                sinks.append((dense, self.map_index))
            if len(self.build_index) and meta.sequence:
                candidates = candidate_sink(self.recipe.build)
                sinks.append((candidates, self.build_index))

            def sink(z0: int, values: np.ndarray) -> None:
                for target, index in sinks:
                    target(z0, values[index])

            stitcher = self.recipe.stitcher(plan, len(self.channels), sink, z_range=(slab.lo, slab.hi))
            for origins, boxes in plan.batches(
                data, self.batch_size, start=slab.first, stop=slab.stop, z_offset=slab.read_lo
            ):
                stitcher.add(origins, predict_channels(self.predictors, self.channels, boxes))
                self.peak_private_mib = max(self.peak_private_mib, _private_mib())
            stitcher.finish()
            if dense is not None:
                dense.data.flush()
            maps, cands = save_slab(self.output, entry_id, slab, dense.path if dense else None, candidates)
            if dense is not None:
                dense.close()
        seconds = round(time.perf_counter() - t0, 3)
        actor = f"{socket.gethostname()}:{os.getpid()}"
        return SlabResult(entry_id, meta, slab, maps, cands, seconds, round(self.peak_private_mib, 1), actor)
