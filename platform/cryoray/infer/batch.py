"""Batch inference over a manifest of maps on Ray Data: enhanced maps, probability maps, models.

The pipeline, per run::

    entries (Ray Data, one block each)
      └ flat_map  _tile_entry      CPU task: read (local, s3://, http), prepare (1 Å, normalise),
      │                            cut into boxes; one row per box (entry id, origin, box, meta)
      └ map_batches _PredictActor  actor pool (``actors.predictors``, ``num_gpus`` per actor on a
      │                            GPU cluster): ``infer.batch_size`` boxes per forward pass,
      │                            boxes of several entries share a batch
      └ iter_batches (driver)      one Stitcher per entry in flight; when an entry's last box
                                   arrives: a CPU task puts its maps back on the input's grid and
                                   writes them; Cα candidates are clustered and threaded on the
                                   AlignmentPool (CPU actors), then a CPU task writes the model;
                                   the entry's ``summary.json`` is written last.

Why stitching sits in the driver: the boxes of one entry must meet in one place, and in this
Ray version a ``groupby`` is an all-to-all shuffle that materialises every prediction before
the first group runs; streaming rows back through ``iter_batches`` keeps the pipeline
streaming and bounded. Stitching is cheap (adds into running sums of open z-sections); the
heavy steps (reading, resampling, prediction, resampling back, writing, threading) run in Ray
tasks and actors. Memory: Ray Data's backpressure bounds the boxes in flight; each entry in
flight holds its open sections plus its dense outputs (memory-mapped in a scratch folder) and
Cα candidates only, never whole probability maps for model building.

Outputs, under the output prefix (local folder or ``s3://``)::

    ENTRY/NAME.mrc         one map per output channel (``outputs.maps``), on the input's grid
    ENTRY/model.cif        Cα model, for entries with a sequence (``outputs.model``)
    ENTRY/summary.json     written last: its presence means the entry is done
    run_summary.json       this run: done, skipped, failed, timings
    failures.json          entries that failed, with the error type and reason

Every file appears whole or not at all (temporary name then rename, or one upload). A re-run
skips entries with a ``summary.json`` and retries the failed ones. A failing entry (missing or
corrupt map, bad sequence, no Cα candidates) is listed with its reason; the others complete.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import fsspec
import numpy as np
import ray
from fsspec.implementations.local import LocalFileSystem

from cryoray import __version__
from cryoray.errors import InputError
from cryoray.infer.batch_config import BatchInferConfig, BatchRow
from cryoray.infer.building import build_channels
from cryoray.infer.frame import to_source_frame
from cryoray.infer.inputs import prepare_input
from cryoray.infer.predictor import Predictor
from cryoray.infer.reference import resolve_reference
from cryoray.infer.stitching import CandidateSink, DenseSink, Stitcher, TilePlan, blend_weights
from cryoray.infer.whole_map import OutputChannel, output_channels, tiling_for
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.io.mrc import read_map, write_map
from cryoray.io.sources import write_bytes
from cryoray.modelbuild import AlignmentJob, AlignmentPool, HmmStates, cluster_candidates, read_chains, write_model
from cryoray.pipelines.manifest import read_manifest
from cryoray.preprocessing.config import PrepareConfig
from cryoray.preprocessing.tiling import Tiling
from cryoray.runtime import ensure_ray

__all__ = ["SUMMARY", "done_entries", "run_batch_inference"]
log = logging.getLogger(__name__)

SUMMARY = "summary.json"


def _join(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *parts])


def _write_json(url: str, data: object) -> None:
    write_bytes(url, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode(), make_dirs=True)


def _ensure_dir(url: str) -> None:
    fs, path = fsspec.core.url_to_fs(url)
    if isinstance(fs, LocalFileSystem):
        os.makedirs(path, exist_ok=True)


def done_entries(output: str) -> set[str]:
    """Entries under ``output`` that have a ``summary.json`` (finished by an earlier run)."""
    fs, path = fsspec.core.url_to_fs(output)
    try:
        found = fs.glob(f"{path.rstrip('/')}/*/{SUMMARY}")
    except (FileNotFoundError, OSError):
        return set()
    return {p.rstrip("/").split("/")[-2] for p in found}


def _frame(d: dict) -> GridFrame:
    return GridFrame(tuple(d["shape"])[::-1], tuple(d["voxel_size"]), tuple(d["origin"]))


def _failure_row(entry_id: str, box: int, error: str, reason: str) -> dict:
    return {
        "entry_id": entry_id,
        "origin": np.zeros(3, np.int64),
        "box": np.zeros((box, box, box), np.float32),
        "meta": json.dumps({"error": error, "reason": reason}),
    }


def _tile_entry(item: dict, *, config_json: str, tiling: Tiling, percentile: float, building: bool) -> list[dict]:
    """Ray Data flat_map: one entry → its boxes (or one failure row); never raises."""
    from cryoray.pipelines.entry import _retry

    row = BatchRow.model_validate_json(item["row"])
    config = BatchInferConfig.model_validate_json(config_json)
    b = tiling.box
    try:
        t0 = time.perf_counter()
        halves = [row.half_map_1, row.half_map_2]
        if all(halves):
            density: DensityMap | list[DensityMap] = [
                _retry(lambda s=s: read_map(s), config.retries, config.retry_delay) for s in halves
            ]
        else:
            density = _retry(lambda: read_map(row.map), config.retries, config.retry_delay)
        chains = None
        if building and row.sequence:
            chains = _retry(lambda: read_chains(row.sequence), config.retries, config.retry_delay)
        infer = config.infer
        prepare = PrepareConfig(voxel_size=infer.voxel_size, order=infer.order, percentile=percentile)
        prepared = prepare_input(density, prepare, source=row.map)
        data = prepared.passes[0].data
        plan = TilePlan.for_shape(data.shape, tiling)
        meta = json.dumps(
            {
                "map": row.map,
                "sequence": row.sequence if chains else None,
                "n_chains": len(chains) if chains else 0,
                "source_frame": prepared.record.source_frame.to_dict(),
                "frame": prepared.density.frame.to_dict(),
                "normalization": None
                if prepared.record.normalization is None
                else prepared.record.normalization.to_dict(),
                "n_boxes": len(plan),
                "read_seconds": round(time.perf_counter() - t0, 3),
            }
        )
        rows = []
        for origins, boxes in plan.batches(data, 64):
            for origin, box in zip(origins, boxes, strict=True):
                rows.append({"entry_id": row.entry_id, "origin": origin.astype(np.int64), "box": box[0], "meta": meta})
        return rows
    except InputError as exc:
        return [_failure_row(row.entry_id, b, type(exc).__name__, exc.reason)]
    except Exception as exc:
        logging.getLogger(__name__).error("internal error on %s:\n%s", row.entry_id, traceback.format_exc())
        return [_failure_row(row.entry_id, b, "InternalError", f"{type(exc).__name__}: {exc}")]


class _PredictActor:
    """Ray Data actor: loads the models once, predicts batches of boxes (any mix of entries)."""

    def __init__(
        self, directories: Sequence[str], channels: Sequence[OutputChannel], device: str, precision: str
    ) -> None:
        self.predictors = [Predictor.from_checkpoint(d, device=device, precision=precision) for d in directories]
        self.channels = list(channels)
        self.used = sorted({c.predictor for c in self.channels})

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        boxes = np.ascontiguousarray(batch["box"], dtype=np.float32)[:, None]
        outputs = {i: self.predictors[i].predict(boxes) for i in self.used}
        pred = np.stack([outputs[c.predictor][c.head][:, c.channel] for c in self.channels], axis=1)
        return {"entry_id": batch["entry_id"], "origin": batch["origin"], "meta": batch["meta"], "pred": pred}


def _write_maps(
    data: np.ndarray,
    names: list[str],
    classification: list[bool],
    frame: dict,
    source_frame: dict,
    urls: list[str],
    float16: bool,
) -> dict:
    """Finish task: each stitched channel back onto the input's grid, written (overwriting a previous try)."""
    try:
        prepared, source = _frame(frame), _frame(source_frame)
        for i, (name, url) in enumerate(zip(names, urls, strict=True)):
            out = to_source_frame(
                DensityMap(np.asarray(data[i]), prepared, labels=(f"cryoray predict-batch {name}",)),
                source,
                order=1 if classification[i] else 3,
            )
            write_map(url, out, overwrite=True, float16=float16)
        return {"ok": True}
    except InputError as exc:
        return {"ok": False, "error": type(exc).__name__, "reason": exc.reason}


def _write_model(result: object, url: str) -> dict:
    """Finish task: write a threaded model; its report goes into the entry's summary."""
    try:
        write_model(url, result, overwrite=True)  # type: ignore[arg-type]
        report = result.to_dict()  # type: ignore[attr-defined]
        return {
            "ok": True,
            "report": {k: report[k] for k in ("chains", "residues", "placed", "unplaced") if k in report},
        }
    except InputError as exc:
        return {"ok": False, "error": type(exc).__name__, "reason": exc.reason}


@dataclass
class _Entry:
    """Driver-side state of an entry whose boxes are arriving."""

    entry_id: str
    meta: dict
    stitcher: Stitcher | None = None
    dense: DenseSink | None = None
    candidates: CandidateSink | None = None
    chains: list | None = None
    pending: dict[str, ray.ObjectRef] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    t0: float = field(default_factory=time.perf_counter)


class _Run:
    """The driver's bookkeeping: entries in flight, done, failed; progress lines."""

    def __init__(
        self,
        output: str,
        config: BatchInferConfig,
        channels: list[OutputChannel],
        map_index: list[int],
        build_index: list[int],
        tiling: Tiling,
        total: int,
        scratch: str,
    ) -> None:
        self.output, self.config, self.channels, self.tiling = output, config, channels, tiling
        self.map_index, self.build_index = map_index, build_index
        self.weights = blend_weights(tiling, config.infer.blend, sigma_scale=config.infer.sigma_scale)
        self.total, self.scratch = total, scratch
        self.entries: dict[str, _Entry] = {}
        self.done: list[str] = []
        self.failed: dict[str, dict] = {}
        self.pool: AlignmentPool | None = None
        self.t0 = time.perf_counter()

    # -- progress
    def progress(self) -> None:
        finished = len(self.done) + len(self.failed)
        minutes = (time.perf_counter() - self.t0) / 60
        log.info(
            "predict-batch: done %d, failed %d, remaining %d (%.1f entries/min)",
            len(self.done),
            len(self.failed),
            self.total - finished,
            len(self.done) / minutes if minutes > 0 else 0.0,
        )

    def fail(self, entry_id: str, error: str, reason: str) -> None:
        entry = self.entries.pop(entry_id, None)
        if entry is not None:
            for ref in entry.pending.values():
                ray.cancel(ref)
            if entry.dense is not None:
                entry.dense.close()
        self.failed[entry_id] = {"entry_id": entry_id, "error": error, "reason": reason}
        log.warning("predict-batch: %s failed: %s: %s", entry_id, error, reason)
        self.progress()

    # -- boxes in
    def start(self, entry_id: str, meta: dict) -> _Entry:
        entry = _Entry(entry_id, meta)
        shape = tuple(meta["frame"]["shape"])[::-1]
        plan = TilePlan.for_shape(shape, self.tiling)
        sinks = []
        if self.map_index:
            entry.dense = DenseSink(shape, len(self.map_index), directory=self.scratch)
            sinks.append((entry.dense, np.asarray(self.map_index)))
        if self.build_index and meta["sequence"]:
            threshold = self.config.build.candidates.threshold
            entry.candidates = CandidateSink(0, threshold, range(1, 21))
            sinks.append((entry.candidates, np.asarray(self.build_index)))

        def sink(z0: int, values: np.ndarray) -> None:
            for target, index in sinks:
                target(z0, values[index])

        entry.stitcher = Stitcher(plan, len(self.channels), weights=self.weights, sink=sink)
        self.entries[entry_id] = entry
        return entry

    def add(self, entry_id: str, meta_text: str, origins: np.ndarray, pred: np.ndarray) -> None:
        if entry_id in self.failed or entry_id in self.done:
            return
        entry = self.entries.get(entry_id)
        if entry is None:
            meta = json.loads(meta_text)
            if "error" in meta:
                self.fail(entry_id, meta["error"], meta["reason"])
                return
            entry = self.start(entry_id, meta)
        if entry.stitcher is None:  # finished stitching, outputs pending
            return
        entry.stitcher.add(origins, pred)
        if entry.stitcher.done:
            entry.stitcher = None
            self.finish(entry)

    # -- finishing
    def finish(self, entry: _Entry) -> None:
        out = _join(self.output, entry.entry_id)
        _ensure_dir(out)
        meta = entry.meta
        remote = ray.remote(num_cpus=self.config.actors.finish_cpus)
        if entry.dense is not None:
            names = [self.channels[i].name for i in self.map_index]
            urls = [_join(out, f"{name}.mrc") for name in names]
            data_ref = ray.put(np.asarray(entry.dense.data))
            entry.dense.close()
            entry.dense = None
            classification = [self.channels[i].classification for i in self.map_index]
            entry.pending["maps"] = remote(_write_maps).remote(
                data_ref, names, classification, meta["frame"], meta["source_frame"], urls, self.config.outputs.float16
            )
            entry.files.update(dict(zip(names, urls, strict=True)))
        if entry.candidates is not None:
            index, ca_prob, aa = entry.candidates.result()
            entry.candidates = None
            total = aa.sum(axis=1, keepdims=True)
            aa = np.divide(aa, total, out=np.zeros_like(aa), where=total > 0)
            xyz = _frame(meta["frame"]).index_to_xyz(index)
            build = self.config.build
            candidates = HmmStates.validated(
                xyz, aa, ca_prob, source=f"{entry.entry_id}: Cα candidates (P > {build.candidates.threshold})"
            )
            states = cluster_candidates(candidates, radius=build.candidates.cluster_radius)
            chains = read_chains(meta["sequence"])
            if self.pool is None:
                self.pool = AlignmentPool(self.config.actors.alignment, num_cpus=self.config.actors.alignment_cpus)
            result_ref = self.pool.submit(AlignmentJob(states, chains, build.threading, entry.entry_id))
            url = _join(out, "model.cif")
            entry.pending["model"] = remote(_write_model).remote(result_ref, url)
            entry.files["model"] = url
            entry.report["candidates"] = len(candidates)
            entry.report["states"] = len(states)
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
                for what, ref in entry.pending.items():
                    result = ray.get(ref)
                    if not result["ok"]:
                        self.fail(entry_id, result["error"], result["reason"])
                        break
                    if what == "model":
                        entry.report["model"] = result["report"]
                else:
                    self.complete(entry)
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                error = type(cause).__name__
                reason = cause.reason if isinstance(cause, InputError) else str(cause).splitlines()[-1]
                self.fail(entry_id, error, reason)

    def complete(self, entry: _Entry) -> None:
        summary = {
            "entry_id": entry.entry_id,
            "status": "done",
            "map": entry.meta["map"],
            "sequence": entry.meta["sequence"],
            "outputs": entry.files,
            "models": list(self.config.models),
            "source_frame": entry.meta["source_frame"],
            "prepared_frame": entry.meta["frame"],
            "normalization": entry.meta["normalization"],
            "n_boxes": entry.meta["n_boxes"],
            "tiling": self.tiling.name,
            "seconds_read": entry.meta["read_seconds"],
            "seconds_after_read": round(time.perf_counter() - entry.t0, 3),
            "build": entry.report or None,
            "cryoray_version": __version__,
        }
        _write_json(_join(self.output, entry.entry_id, SUMMARY), summary)
        del self.entries[entry.entry_id]
        self.done.append(entry.entry_id)
        self.progress()


def _load_predictors(config: BatchInferConfig) -> tuple[list[str], list[Predictor]]:
    directories = [str(resolve_reference(ref, tracking_uri=config.tracking_uri)) for ref in config.models]
    # On the driver, on CPU: only to learn the heads and the box, and to refuse bad models before any work.
    predictors = [Predictor.from_checkpoint(d, device="cpu", precision="fp32") for d in directories]
    return directories, predictors


def _plan_channels(
    config: BatchInferConfig, predictors: list[Predictor], building: bool
) -> tuple[list[OutputChannel], list[int], list[int]]:
    """Channels the actors return (maps first, then the build channels), and where each output finds them."""
    from cryoray.errors import ConfigError

    everything = output_channels(predictors)
    if config.outputs.maps == "all":
        wanted = everything
    else:
        by_name = {c.name: c for c in everything}
        unknown = [n for n in config.outputs.maps if n not in by_name]
        if unknown:
            raise ConfigError("outputs.maps", f"unknown output(s) {unknown}; the models give {sorted(by_name)}")
        wanted = [by_name[n] for n in config.outputs.maps]
    channels = list(wanted)
    build_index: list[int] = []
    if building:
        for channel in build_channels(predictors):
            if channel not in channels:
                channels.append(channel)
            build_index.append(channels.index(channel))
    return channels, list(range(len(wanted))), build_index


def run_batch_inference(
    manifest: str,
    output: str,
    config: BatchInferConfig,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    scratch_dir: str | None = None,
) -> dict[str, object]:
    """Predict every entry of ``manifest`` not yet done under ``output``; return the run's report.

    Raises:
        ConfigError / ModelReferenceError / SourceError: a bad manifest, model reference or
            config (before any work starts). Failing entries do not raise: they are listed in
            the report and in ``failures.json``.
    """
    t0 = time.perf_counter()
    rows = read_manifest(manifest, row_type=BatchRow)
    directories, predictors = _load_predictors(config)
    building = config.outputs.model and any(r.sequence for r in rows)
    channels, map_index, build_index = _plan_channels(config, predictors, building)
    tiling = tiling_for(predictors, config.infer)
    percentile = config.infer.percentile_for(all(p.regression_only for p in predictors))
    del predictors
    _ensure_dir(output)
    skipped = done_entries(output)
    todo = [r for r in rows if r.entry_id not in skipped]
    log.info("predict-batch: %d entries, %d already done, %d to do", len(rows), len(rows) - len(todo), len(todo))
    scratch = tempfile.mkdtemp(prefix="cryoray-batch-", dir=scratch_dir)
    run = _Run(output, config, channels, map_index, build_index, tiling, len(todo), scratch)
    try:
        if todo:
            ensure_ray(address, num_cpus)
            actors = config.actors
            items = [{"row": r.model_dump_json()} for r in todo]
            dataset = ray.data.from_items(items, override_num_blocks=len(items))
            boxes = dataset.flat_map(
                partial(
                    _tile_entry,
                    config_json=config.model_dump_json(),
                    tiling=tiling,
                    percentile=percentile,
                    building=bool(build_index),
                ),
                num_cpus=actors.read_cpus,
            )
            predictions = boxes.map_batches(
                _PredictActor,
                fn_constructor_kwargs={
                    "directories": directories,
                    "channels": channels,
                    "device": config.infer.device,
                    "precision": config.infer.precision,
                },
                batch_size=config.infer.batch_size,
                batch_format="numpy",
                concurrency=actors.predictors,
                num_cpus=actors.cpus_per_predictor,
                num_gpus=actors.gpus_per_predictor or None,
            )
            for batch in predictions.iter_batches(batch_size=None, batch_format="numpy"):
                ids = batch["entry_id"]
                for entry_id in dict.fromkeys(ids.tolist()):
                    where = np.flatnonzero(ids == entry_id)
                    try:
                        run.add(entry_id, str(batch["meta"][where[0]]), batch["origin"][where], batch["pred"][where])
                    except Exception as exc:
                        log.error("internal error on %s:\n%s", entry_id, traceback.format_exc())
                        reason = exc.reason if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
                        run.fail(
                            entry_id, type(exc).__name__ if isinstance(exc, InputError) else "InternalError", reason
                        )
                run.poll()
            while any(e.stitcher is None for e in run.entries.values()):
                run.poll(wait=True)
            for entry_id, entry in list(run.entries.items()):  # boxes missing: cannot happen unless a bug
                run.fail(
                    entry_id, "InternalError", f"stitching incomplete ({entry.stitcher and not entry.stitcher.done})"
                )
    finally:
        if run.pool is not None:
            run.pool.shutdown()
        for entry in run.entries.values():
            if entry.dense is not None:
                entry.dense.close()
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - t0
    failures = sorted(run.failed.values(), key=lambda f: f["entry_id"])
    report = {
        "output": output,
        "done": sorted(run.done),
        "skipped_already_done": sorted(skipped & {r.entry_id for r in rows}),
        "failed": failures,
        "n_entries": len(rows),
        "n_done": len(run.done),
        "n_failed": len(failures),
        "seconds": round(seconds, 1),
        "entries_per_minute": round(len(run.done) / (seconds / 60), 2) if run.done else 0.0,
        "models": list(config.models),
        "outputs": [c.name for c in channels[: len(map_index)]] + (["model"] if build_index else []),
    }
    _write_json(_join(output, "failures.json"), failures)
    _write_json(_join(output, "run_summary.json"), report)
    return report
