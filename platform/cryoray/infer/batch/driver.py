"""The driver's side of a batch run: entry-level bookkeeping only, no voxels.

The driver gets one small :class:`SlabResult` per predicted slab (one per entry unless its map is
large). When an entry's last slab is in, a CPU task (:func:`finish_entry`) merges the slabs,
writes the maps on the input's grid and clusters the Cα candidates; the states are threaded on
the alignment pool and a CPU task writes the model; ``summary.json`` is written once every output
is. A failing entry is recorded with its reason (:class:`EntryFailure`) and the others go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import ray

from cryoray import __version__
from cryoray.infer.batch.entries import EntryFailure, EntryMeta
from cryoray.infer.batch.locations import SUMMARY, ensure_dir, join, write_json
from cryoray.infer.batch.partials import SlabResult, remove_partials
from cryoray.infer.batch.writing import FinishedMaps, finish_entry, write_threaded_model
from cryoray.infer.batch_config import BatchInferConfig
from cryoray.infer.channels import OutputChannel
from cryoray.infer.recipe import Recipe
from cryoray.modelbuild import AlignmentJob, AlignmentPool, read_chains
from cryoray.runtime.progress import Progress

__all__ = ["Driver"]
log = logging.getLogger(__name__)


@dataclass
class _Entry:
    """An entry whose slabs are arriving, or whose outputs are being written (``pending``)."""

    entry_id: str
    meta: EntryMeta
    slabs: dict[int, SlabResult] = field(default_factory=dict)
    pending: dict[str, ray.ObjectRef] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    build: dict[str, object] = field(default_factory=dict)
    t0: float = field(default_factory=time.perf_counter)

    @property
    def predicted(self) -> bool:
        return len(self.slabs) == self.meta.n_slabs


class Driver:
    """Collects entries' slabs, finishes complete entries, and records what is done and what failed.

    Args:
        output: the output prefix.
        config: the run's settings.
        recipe: candidate settings (``recipe.build``) and the report of where settings came from.
        map_channels: the channels written as maps, in the order the slabs hold them.
        building: models are built for entries with a sequence.
        progress: the run's progress line (entries finished of those to do).
    """

    def __init__(
        self,
        output: str,
        config: BatchInferConfig,
        recipe: Recipe,
        map_channels: Sequence[OutputChannel],
        building: bool,
        progress: Progress,
    ) -> None:
        self.output, self.config, self.recipe = output, config, recipe
        self.map_channels, self.building = list(map_channels), building
        self.progress = progress
        self.entries: dict[str, _Entry] = {}
        self.done: list[str] = []
        self.failed: dict[str, EntryFailure] = {}
        self.pool: AlignmentPool | None = None
        self._remote = ray.remote(num_cpus=config.actors.finish_cpus)

    # -- bookkeeping
    def _advance(self) -> None:
        self.progress.update(len(self.done) + len(self.failed), failed=len(self.failed))

    def fail(self, failure: EntryFailure) -> None:
        """Drop the entry (its pending tasks cancelled, its slab files removed) and record why it failed."""
        entry = self.entries.pop(failure.entry_id, None)
        if entry is not None:
            for ref in entry.pending.values():
                ray.cancel(ref)
            if entry.slabs:
                remove_partials(self.output, entry.entry_id)
        self.failed[failure.entry_id] = failure
        log.warning("predict-batch: %s failed: %s: %s", failure.entry_id, failure.error, failure.reason)
        self._advance()

    def close(self) -> None:
        """Release the alignment actors and remove any slab files left (entries that never finished)."""
        if self.pool is not None:
            self.pool.shutdown()
        remove_partials(self.output)

    # -- slabs in
    def add(self, result: SlabResult | EntryFailure) -> None:
        """Take one predicted slab (or an entry's failure); an entry with all its slabs is finished."""
        if result.entry_id in self.failed or result.entry_id in self.done:
            return
        if isinstance(result, EntryFailure):
            self.fail(result)
            return
        entry = self.entries.setdefault(result.entry_id, _Entry(result.entry_id, result.meta))
        if entry.predicted:  # a slab predicted twice (a retried task): the first one counts
            return
        entry.slabs[result.slab.index] = result
        if entry.predicted:
            self._finish(entry)

    def _finish(self, entry: _Entry) -> None:
        out = join(self.output, entry.entry_id)
        ensure_dir(out)
        urls = [join(out, f"{c.name}.mrc") for c in self.map_channels]
        entry.files.update({c.name: url for c, url in zip(self.map_channels, urls, strict=True)})
        entry.pending["maps"] = self._remote(finish_entry).remote(
            entry.entry_id,
            entry.meta,
            list(entry.slabs.values()),
            self.output,
            self.map_channels,
            urls,
            self.config.outputs.float16,
            self.recipe.build if self.building else None,
        )

    def _thread(self, entry: _Entry, finished: FinishedMaps) -> None:
        """Thread the entry's sequence through its states on the alignment pool, then write the model."""
        if self.pool is None:
            self.pool = AlignmentPool(self.config.actors.alignment, num_cpus=self.config.actors.alignment_cpus)
        chains = read_chains(entry.meta.sequence)
        job = AlignmentJob(finished.states, chains, self.recipe.build.threading, entry.entry_id)
        url = join(self.output, entry.entry_id, "model.cif")
        entry.pending["model"] = self._remote(write_threaded_model).remote(entry.entry_id, self.pool.submit(job), url)
        entry.files["model"] = url
        entry.build.update(candidates=finished.candidates, states=len(finished.states))

    def poll(self, *, wait: bool = False) -> None:
        """Collect finished output tasks; an entry whose outputs are all written gets its summary."""
        for entry_id, entry in list(self.entries.items()):
            if not entry.pending:
                continue
            refs = list(entry.pending.values())
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=None if wait else 0)
            if len(ready) < len(refs):
                continue
            try:
                results = {what: ray.get(ref) for what, ref in entry.pending.items()}
            except ray.exceptions.RayTaskError as exc:  # threading refused the sequence, or a task crashed
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                self.fail(EntryFailure.of(entry_id, cause, input_stage=True))
                continue
            entry.pending.clear()
            failure = next((r for r in results.values() if isinstance(r, EntryFailure)), None)
            if failure is not None:
                self.fail(failure)
                continue
            try:
                maps = results.get("maps")
                if isinstance(maps, FinishedMaps) and maps.states is not None:
                    self._thread(entry, maps)
                    continue
                if "model" in results:
                    entry.build["model"] = results["model"]
                self._complete(entry)
            except Exception as exc:
                self.fail(EntryFailure.of(entry_id, exc, input_stage=False))

    @property
    def busy(self) -> bool:
        """Some entry has all its slabs and waits for its outputs to be written."""
        return any(e.pending for e in self.entries.values())

    def _complete(self, entry: _Entry) -> None:
        summary = {
            "entry_id": entry.entry_id,
            "status": "done",
            **entry.meta.to_dict(),
            "outputs": entry.files,
            "models": list(self.config.models),
            "tiling": self.recipe.tiling.name,
            **self.recipe.report(),
            "seconds_predict": round(sum(s.seconds for s in entry.slabs.values()), 3),
            "predictor_peak_private_mib": max(s.peak_private_mib for s in entry.slabs.values()),
            "predictors": sorted({s.predictor for s in entry.slabs.values()}),
            "seconds_after_predict": round(time.perf_counter() - entry.t0, 3),
            "build": entry.build or None,
            "cryoray_version": __version__,
        }
        write_json(join(self.output, entry.entry_id, SUMMARY), summary)
        del self.entries[entry.entry_id]
        self.done.append(entry.entry_id)
        self._advance()
