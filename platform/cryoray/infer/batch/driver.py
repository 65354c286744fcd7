"""The driver's side of a batch run: entries in flight, stitched as their boxes stream back, then finished.

For every entry the driver keeps one :class:`~cryoray.infer.Stitcher` while its boxes arrive.
When the last one is in: a CPU task puts the dense outputs back on the input's grid and writes
them; Cα candidates are clustered here and threaded on the alignment pool, and a CPU task writes
the model; ``summary.json`` is written once every output is. A failing entry is recorded with
its reason (:class:`EntryFailure`) and the others go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import ray

from cryoray import __version__
from cryoray.infer.batch.entries import EntryFailure, EntryMeta
from cryoray.infer.batch.locations import SUMMARY, ensure_dir, join, write_json
from cryoray.infer.batch.writing import write_maps, write_threaded_model
from cryoray.infer.batch_config import BatchInferConfig
from cryoray.infer.candidates import candidate_sink, clustered_states
from cryoray.infer.channels import OutputChannel
from cryoray.infer.recipe import Recipe
from cryoray.infer.stitching import CandidateSink, DenseSink, Stitcher
from cryoray.modelbuild import AlignmentJob, AlignmentPool, read_chains
from cryoray.runtime.progress import Progress

__all__ = ["Driver"]
log = logging.getLogger(__name__)


@dataclass
class _Entry:
    """An entry whose boxes are arriving (``stitcher`` set) or whose outputs are being written."""

    entry_id: str
    meta: EntryMeta
    stitcher: Stitcher | None = None
    dense: DenseSink | None = None
    candidates: CandidateSink | None = None
    pending: dict[str, ray.ObjectRef] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    build: dict[str, object] = field(default_factory=dict)
    t0: float = field(default_factory=time.perf_counter)


class Driver:
    """Stitches entries as their box rows arrive, finishes them, and records what is done and what failed.

    Args:
        output: the output prefix.
        config: the run's settings.
        recipe: tiling, blend weights (as the read tasks cut the maps) and candidate settings.
        channels: the channels in each row's predictions: ``map_index`` are written as maps,
            ``build_index`` (P(Cα), then 20 amino acids) go to model building.
        scratch: folder for memory-mapped dense outputs.
        progress: the run's progress line (entries finished of those to do).
    """

    def __init__(
        self,
        output: str,
        config: BatchInferConfig,
        recipe: Recipe,
        channels: Sequence[OutputChannel],
        map_index: Sequence[int],
        build_index: Sequence[int],
        scratch: str,
        progress: Progress,
    ) -> None:
        self.output, self.config, self.recipe, self.scratch = output, config, recipe, scratch
        self.channels, self.map_index, self.build_index = list(channels), list(map_index), list(build_index)
        self.progress = progress
        self.entries: dict[str, _Entry] = {}
        self.done: list[str] = []
        self.failed: dict[str, EntryFailure] = {}
        self.pool: AlignmentPool | None = None

    # -- bookkeeping
    def _advance(self) -> None:
        self.progress.update(len(self.done) + len(self.failed), failed=len(self.failed))

    def fail(self, failure: EntryFailure) -> None:
        """Drop the entry (its pending tasks cancelled) and record why it failed."""
        entry = self.entries.pop(failure.entry_id, None)
        if entry is not None:
            for ref in entry.pending.values():
                ray.cancel(ref)
            if entry.dense is not None:
                entry.dense.close()
        self.failed[failure.entry_id] = failure
        log.warning("predict-batch: %s failed: %s: %s", failure.entry_id, failure.error, failure.reason)
        self._advance()

    def close(self) -> None:
        """Release the alignment actors and any dense outputs still open."""
        if self.pool is not None:
            self.pool.shutdown()
        for entry in self.entries.values():
            if entry.dense is not None:
                entry.dense.close()

    # -- boxes in
    def add(self, entry_id: str, meta: EntryMeta | EntryFailure, origins: np.ndarray, pred: np.ndarray) -> None:
        """Stitch one entry's rows of a prediction batch; a failure row fails the entry."""
        if entry_id in self.failed or entry_id in self.done:
            return
        if isinstance(meta, EntryFailure):
            self.fail(meta)
            return
        entry = self.entries.get(entry_id) or self._start(entry_id, meta)
        if entry.stitcher is None:  # finished stitching, outputs pending
            return
        entry.stitcher.add(origins, pred)
        if entry.stitcher.done:
            entry.stitcher = None
            self._finish(entry)

    def _start(self, entry_id: str, meta: EntryMeta) -> _Entry:
        entry = _Entry(entry_id, meta)
        shape = meta.frame.shape
        sinks = []
        if self.map_index:
            entry.dense = DenseSink(shape, len(self.map_index), directory=self.scratch)
            sinks.append((entry.dense, np.asarray(self.map_index)))
        if self.build_index and meta.sequence:
            entry.candidates = candidate_sink(self.recipe.build)
            sinks.append((entry.candidates, np.asarray(self.build_index)))

        def sink(z0: int, values: np.ndarray) -> None:
            for target, index in sinks:
                target(z0, values[index])

        entry.stitcher = self.recipe.stitcher(self.recipe.plan(shape), len(self.channels), sink)
        self.entries[entry_id] = entry
        return entry

    # -- finishing
    def _finish(self, entry: _Entry) -> None:
        out = join(self.output, entry.entry_id)
        ensure_dir(out)
        meta = entry.meta
        remote = ray.remote(num_cpus=self.config.actors.finish_cpus)
        if entry.dense is not None:
            channels = [self.channels[i] for i in self.map_index]
            urls = [join(out, f"{c.name}.mrc") for c in channels]
            data = ray.put(np.asarray(entry.dense.data))
            entry.dense.close()
            entry.dense = None
            entry.pending["maps"] = remote(write_maps).remote(
                entry.entry_id, data, channels, meta.frame, meta.source_frame, urls, self.config.outputs.float16
            )
            entry.files.update({c.name: url for c, url in zip(channels, urls, strict=True)})
        if entry.candidates is not None and meta.sequence is not None:
            build = self.recipe.build
            states, n_candidates = clustered_states(entry.candidates, meta.frame, build, source=entry.entry_id)
            entry.candidates = None
            if self.pool is None:
                self.pool = AlignmentPool(self.config.actors.alignment, num_cpus=self.config.actors.alignment_cpus)
            job = AlignmentJob(states, read_chains(meta.sequence), build.threading, entry.entry_id)
            url = join(out, "model.cif")
            entry.pending["model"] = remote(write_threaded_model).remote(entry.entry_id, self.pool.submit(job), url)
            entry.files["model"] = url
            entry.build.update(candidates=n_candidates, states=len(states))
        self.poll()

    def poll(self, *, wait: bool = False) -> None:
        """Collect finished output tasks; an entry whose outputs are all written gets its summary."""
        for entry_id, entry in list(self.entries.items()):
            if entry.stitcher is not None:
                continue
            refs = list(entry.pending.values())
            if refs:
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=None if wait else 0)
                if len(ready) < len(refs):
                    continue
            try:
                results = {what: ray.get(ref) for what, ref in entry.pending.items()}
            except ray.exceptions.RayTaskError as exc:  # threading refused the sequence, or a task crashed
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                self.fail(EntryFailure.of(entry_id, cause, input_stage=True))
                continue
            failure = next((r for r in results.values() if isinstance(r, EntryFailure)), None)
            if failure is not None:
                self.fail(failure)
                continue
            if "model" in results:
                entry.build["model"] = results["model"]
            try:
                self._complete(entry)
            except Exception as exc:
                self.fail(EntryFailure.of(entry_id, exc, input_stage=False))

    @property
    def busy(self) -> bool:
        """Some entry has all its boxes and waits for its outputs to be written."""
        return any(e.stitcher is None for e in self.entries.values())

    def _complete(self, entry: _Entry) -> None:
        summary = {
            "entry_id": entry.entry_id,
            "status": "done",
            **entry.meta.to_dict(),
            "outputs": entry.files,
            "models": list(self.config.models),
            "tiling": self.recipe.tiling.name,
            **self.recipe.report(),
            "seconds_after_read": round(time.perf_counter() - entry.t0, 3),
            "build": entry.build or None,
            "cryoray_version": __version__,
        }
        write_json(join(self.output, entry.entry_id, SUMMARY), summary)
        del self.entries[entry.entry_id]
        self.done.append(entry.entry_id)
        self._advance()
