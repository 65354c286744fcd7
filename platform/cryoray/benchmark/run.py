"""A benchmark run: predict a test manifest in batch, evaluate every entry on Ray Data, write the results."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from functools import partial

import ray

from cryoray.benchmark.entry import BASELINES, MODEL_BASELINES, evaluate_entry
from cryoray.benchmark.results import means_by_kind, write_results
from cryoray.errors import ConfigError
from cryoray.infer.batch import run_batch_inference
from cryoray.infer.batch.entries import EntryFailure
from cryoray.infer.batch.locations import ensure_dir, join, write_json
from cryoray.infer.batch_config import BatchInferConfig
from cryoray.infer.channels import build_channels, output_channels
from cryoray.infer.predictor import Predictor
from cryoray.pipelines.manifest import ManifestRow, read_manifest
from cryoray.runtime import ensure_ray
from cryoray.runtime.progress import Progress

__all__ = ["run_benchmark"]
log = logging.getLogger(__name__)


def _plan(config: BatchInferConfig, rows: Sequence[ManifestRow]) -> tuple[list[str], bool]:
    """The models' regression outputs (the maps to evaluate) and whether they build models."""
    specs = [
        Predictor.from_reference(ref, tracking_uri=config.tracking_uri, device="cpu", precision="fp32").spec
        for ref in config.models
    ]
    maps = [  # a Cα heatmap is a regression head but not a density map
        c.name
        for c in output_channels(specs)
        if not c.classification and specs[c.predictor].heads[c.head].label != "ca_heatmap"
    ]
    try:
        build_channels(specs)
        building = any(r.sequence for r in rows)
    except ConfigError:
        building = False
    return maps, building


def _evaluate(item: dict, **settings: object) -> dict:
    """Ray Data row function: an entry's result rows or its failure, as JSON text (any columns fit)."""
    row = ManifestRow.model_validate_json(item["row"])
    outcome = evaluate_entry(row, **settings, **json.loads(item["plan"]))
    if isinstance(outcome, EntryFailure):
        return {"entry_id": row.entry_id, "rows": "[]", "failure": json.dumps(outcome.to_dict())}
    return {"entry_id": row.entry_id, "rows": json.dumps(outcome), "failure": ""}


def _log_mlflow(uri: str, experiment: str, output: str, report: dict, files: Sequence[str]) -> str:
    """One MLflow run: the settings as params, the means per kind as metrics, the results as artifacts."""
    import tempfile

    import fsspec

    from cryoray.train.tracking import Tracker, flatten, open_run

    params = flatten({"manifest": report["manifest"], "models": ",".join(report["models"]), "output": output})
    # artefacts beside the results (as training keeps its own beside its runs), never in the working dir
    root = output if "://" in output else os.path.abspath(output)
    run_id = open_run(uri, experiment, f"{root}/mlartifacts", f"benchmark-{time.strftime('%Y%m%d-%H%M%S')}", params)
    tracker = Tracker(uri, run_id)
    metrics = {
        f"{kind.replace(':', '.').replace(' ', '_')}.{name}": value
        for kind, values in report["means"].items()
        for name, value in values.items()
    }
    metrics |= {"n_entries": report["n_entries"], "n_failed": report["n_failed"]}
    tracker.metrics(metrics, step=0)
    with tempfile.TemporaryDirectory() as scratch:
        for name in files:
            local = f"{scratch}/{name}"
            with fsspec.open(join(output, name), "rb") as source, open(local, "wb") as target:
                target.write(source.read())
            tracker.artifact(local)  # type: ignore[arg-type]
    tracker.finish(ok=True)
    return run_id


def run_benchmark(
    manifest: str,
    output: str,
    config: BatchInferConfig,
    *,
    baselines: Sequence[str] = (),
    address: str | None = None,
    num_cpus: int | None = None,
    tracking_uri: str | None = None,
    experiment: str = "benchmark",
    progress: bool = True,
) -> dict[str, object]:
    """Benchmark ``config.models`` on a test manifest (``entry_id,map,model,resolution[,sequence,half maps]``).

    Predictions go to ``OUTPUT/predictions`` (batch inference: only the models' regression maps,
    and a model for entries with a sequence when the models build); then each entry is
    evaluated in a Ray task: the deposited map, each baseline, each predicted map, the built
    model. Writes ``results.csv``, ``summary.md``, paired plots, ``failures.json`` and
    ``benchmark.json`` under ``output``; with ``tracking_uri``, one MLflow run as well.

    Raises:
        ConfigError / ModelReferenceError: a bad manifest, baseline or model (before any work).
    """
    start = time.perf_counter()
    rows = read_manifest(manifest)
    known = sorted([*BASELINES, *MODEL_BASELINES])
    unknown = [b for b in baselines if b not in known]
    if unknown:
        raise ConfigError("--baseline", f"unknown baseline(s) {unknown}; choose from {known}")
    maps, building = _plan(config, rows)
    predictions = join(output, "predictions")
    ensure_dir(output)
    config = config.model_copy(
        update={"outputs": config.outputs.model_copy(update={"maps": tuple(maps), "model": building})}
    )
    predicted = run_batch_inference(
        manifest, predictions, config, address=address, num_cpus=num_cpus, progress=progress
    )
    failed = {f["entry_id"]: f for f in predicted["failed"]}
    ensure_ray(address, num_cpus)
    items = [
        {
            "row": r.model_dump_json(),
            "plan": json.dumps(
                {
                    "maps": [] if r.entry_id in failed else maps,
                    "built": building and bool(r.sequence) and r.entry_id not in failed,
                }
            ),
        }
        for r in rows
    ]
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    dataset.context.enable_progress_bars = not progress
    evaluated = dataset.map(partial(_evaluate, predictions=predictions, baselines=list(baselines)), num_cpus=1)
    results: list[dict] = []
    line = Progress("benchmark", len(rows), unit="entries", enabled=progress)
    try:
        for done, item in enumerate(evaluated.iter_rows(), start=1):
            results += json.loads(item["rows"])
            if item["failure"]:
                failed[item["entry_id"]] = json.loads(item["failure"])
            line.update(done, failed=len(failed))
    finally:
        line.close()
    failures = sorted(failed.values(), key=lambda f: f["entry_id"])
    files = write_results(output, results, failures, title=f"Benchmark of {', '.join(config.models)} on {manifest}")
    write_json(join(output, "failures.json"), failures)
    seconds = time.perf_counter() - start
    report: dict[str, object] = {
        "manifest": manifest,
        "output": output,
        "models": list(config.models),
        "maps": maps,
        "built": building,
        "baselines": list(baselines),
        "n_entries": len(rows),
        "n_evaluated": len({r["entry_id"] for r in results}),
        "n_failed": len(failures),
        "failed": failures,
        "means": {kind: {k: round(v, 4) for k, v in values.items()} for kind, values in means_by_kind(results).items()},
        "files": [*files, "failures.json", "benchmark.json"],
        "seconds": round(seconds, 1),
        "entries_per_minute": round(len(rows) / (seconds / 60), 2),
        "seconds_predict": predicted["seconds"],
    }
    if tracking_uri:
        report["mlflow_run_id"] = _log_mlflow(tracking_uri, experiment, output, report, files)
    write_json(join(output, "benchmark.json"), report)
    return report
