"""One batch run: check the models, plan the channels, run the Ray Data pipeline, write the run's report."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from functools import partial

import ray

from cryoray.errors import ConfigError
from cryoray.infer.batch.driver import Driver
from cryoray.infer.batch.entries import EntryFailure
from cryoray.infer.batch.locations import done_entries, ensure_dir, join, write_json
from cryoray.infer.batch.predicting import PredictActor
from cryoray.infer.batch.reading import read_entry
from cryoray.infer.batch_config import BatchInferConfig, BatchRow
from cryoray.infer.channels import OutputChannel, build_channels, output_channels
from cryoray.infer.predictor import Predictor
from cryoray.infer.recipe import Recipe
from cryoray.infer.reference import resolve_reference
from cryoray.infer.spec import ModelSpec
from cryoray.pipelines.manifest import read_manifest
from cryoray.runtime import ensure_ray
from cryoray.runtime.progress import Progress

__all__ = ["plan_channels", "run_batch_inference"]
log = logging.getLogger(__name__)


def _load_specs(config: BatchInferConfig) -> tuple[list[str], list[ModelSpec]]:
    """Model directories and the models' specs: loaded once on the driver (CPU) to refuse bad models early."""
    directories = [str(resolve_reference(ref, tracking_uri=config.tracking_uri)) for ref in config.models]
    specs = []
    for ref, directory in zip(config.models, directories, strict=True):
        predictor = Predictor.from_checkpoint(directory, device="cpu", precision="fp32")
        predictor.name = ref
        specs.append(predictor.spec)
    return directories, specs


def plan_channels(
    config: BatchInferConfig, specs: Sequence[ModelSpec], building: bool
) -> tuple[list[OutputChannel], list[int], list[int]]:
    """Channels the actors return (maps first, then the build channels), and where each output finds them.

    Raises:
        ConfigError: ``outputs.maps`` names a channel the models do not give; building without the heads.
    """
    everything = output_channels(specs)
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
        for channel in build_channels(specs):
            if channel not in channels:
                channels.append(channel)
            build_index.append(channels.index(channel))
    return channels, list(range(len(wanted))), build_index


def _stream(driver: Driver, results: ray.data.Dataset) -> None:
    """Hand each predicted slab (a small record, no voxels) to the driver; then wait for the last outputs."""
    for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
        for entry_id, result in zip(batch["entry_id"], batch["result"], strict=True):
            try:
                driver.add(result)
            except Exception as exc:
                failure = EntryFailure.of(entry_id, exc, input_stage=True)
                if not failure.input_fault:
                    log.exception("internal error on %s", entry_id)
                driver.fail(failure)
        driver.poll()
    while driver.busy:
        driver.poll(wait=True)
    for entry_id, entry in list(driver.entries.items()):  # slabs missing: a bug
        missing = "slabs missing" if not entry.predicted else "outputs never collected"
        driver.fail(EntryFailure(entry_id, "InternalError", missing, input_fault=False))


def run_batch_inference(
    manifest: str,
    output: str,
    config: BatchInferConfig,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: bool = True,
) -> dict[str, object]:
    """Predict every entry of ``manifest`` not yet done under ``output``; return the run's report.

    ``progress`` draws entries finished / failed of those to do, rate and ETA on stderr (one line
    redrawn on a terminal, a line every 30 s elsewhere).

    Raises:
        ConfigError / ModelReferenceError / SourceError: a bad manifest, model reference or
            config (before any work starts). Failing entries do not raise: they are listed in
            the report and in ``failures.json``, with ``input_fault`` False when the entry's
            input is not to blame (``n_failed_internal``).
    """
    t0 = time.perf_counter()
    rows = read_manifest(manifest, row_type=BatchRow)
    directories, specs = _load_specs(config)
    building = config.outputs.model and any(r.sequence for r in rows)
    channels, map_index, build_index = plan_channels(config, specs, building)
    recipe = Recipe.for_models(specs, config.infer, build=config.build if build_index else None)
    ensure_dir(output)
    skipped = done_entries(output)
    todo = [r for r in rows if r.entry_id not in skipped]
    log.info("predict-batch: %d entries, %d already done, %d to do", len(rows), len(rows) - len(todo), len(todo))
    line = Progress("predict-batch", len(todo), unit="entries", enabled=progress and bool(todo))
    driver = Driver(output, config, recipe, channels[: len(map_index)], bool(build_index), line)
    try:
        if todo:
            ensure_ray(address, num_cpus)
            actors = config.actors
            items = [{"row": r.model_dump_json()} for r in todo]
            entries = ray.data.from_items(items, override_num_blocks=len(items))
            # this run's settings (its datasets' own context, not the process's): entry metadata rides
            # with every slab as a typed object (pickled, said so rather than warned about), and one
            # progress line of entries rather than Ray Data's per-operator bars redrawn over it
            entries.context.enable_fallback_to_arrow_object_ext_type = True
            entries.context.enable_progress_bars = not line.enabled
            if actors.wait_for_predictors_s:
                entries.context.wait_for_min_actors_s = actors.wait_for_predictors_s
            # one slab a block: a block goes to one actor whole, and the slabs of a large map must
            # be free to go to different actors (a streaming split, no shuffle)
            slabs = entries.flat_map(
                partial(read_entry, config=config, recipe=recipe, building=bool(build_index)),
                num_cpus=actors.read_cpus,
            ).repartition(target_num_rows_per_block=1)
            results = slabs.map_batches(
                PredictActor,
                fn_constructor_kwargs={
                    "directories": directories,
                    "channels": channels,
                    "map_index": map_index,
                    "build_index": build_index,
                    "recipe": recipe,
                    "output": output,
                    "device": config.infer.device,
                    "precision": config.infer.precision,
                    "batch_size": config.infer.batch_size,
                },
                batch_size=1,
                batch_format="numpy",
                # one slab at a time per actor: a slab is minutes of work on a large map, and one
                # queued behind a busy actor would wait while another actor is idle
                compute=ray.data.ActorPoolStrategy(size=actors.predictors, max_tasks_in_flight_per_actor=1),
                num_cpus=actors.cpus_per_predictor,
                num_gpus=actors.gpus_per_predictor or None,
            )
            _stream(driver, results)
    finally:
        line.close()
        driver.close()
    seconds = time.perf_counter() - t0
    failures = [f.to_dict() for f in sorted(driver.failed.values(), key=lambda f: f.entry_id)]
    report = {
        "output": output,
        "done": sorted(driver.done),
        "skipped_already_done": sorted(skipped & {r.entry_id for r in rows}),
        "failed": failures,
        "n_entries": len(rows),
        "n_done": len(driver.done),
        "n_failed": len(failures),
        "n_failed_internal": sum(not f.input_fault for f in driver.failed.values()),
        "seconds": round(seconds, 1),
        "entries_per_minute": round(len(driver.done) / (seconds / 60), 2) if driver.done else 0.0,
        "models": list(config.models),
        "outputs": [c.name for c in channels[: len(map_index)]] + (["model"] if build_index else []),
        **recipe.report(),
    }
    write_json(join(output, "failures.json"), failures)
    write_json(join(output, "run_summary.json"), report)
    return report
