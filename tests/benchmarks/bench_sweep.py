"""Benchmark: the shipped sample sweep (`sample_sweep.yaml`) end to end, and each trial's start-up.

    .venv/bin/python -m tests.benchmarks.bench_sweep [--output DIR] [--num-cpus 2] [--set key=value ...] [--smoke]

(from the repository root; ``--smoke``: one trial, a small UNet, one epoch of 2 steps).

Ingests the bundled sample into DIR/sample.zarr, runs the sweep on a local Ray instance and
reports: the sweep's wall time; per trial its wall time, its status, and its **start-up** — from
the moment its MLflow run opens (the trial has been scheduled and its config built) to the
untrained model's step-0 validation (Train workers started, model built, first data read) —
which is the fixed cost every trial pays before it trains.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path

from mlflow.tracking import MlflowClient

from tests.benchmarks.common import parse_args

#: --smoke's overrides: one trial (a space of one small UNet), one epoch of 2 steps
SMOKE_SETS = [
    "train.schedule.epochs=1",
    "train.schedule.max_steps_per_epoch=2",
    "space={model: {grid: [{name: unet, img_size: 32, out_channels: 4, channels: [4, 8, 16], strides: [2, 2]}]}}",
]


def trial_startups(uri: str, parent_run_id: str) -> dict[str, float]:
    """Seconds from each child run's start to its step-0 validation metric, by run name."""
    client = MlflowClient(uri)
    parent = client.get_run(parent_run_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'")
    out = {}
    for child in children:
        baseline = [m for m in client.get_metric_history(child.info.run_id, "val/loss") if m.step == 0]
        if baseline:
            out[child.info.run_name] = (baseline[0].timestamp - child.info.start_time) / 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", default="/tmp/cryoray_bench_sweep", help="emptied first; none (--smoke): a temporary folder"
    )
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="override a sweep key (key=value)")
    args = parse_args(parser, {"set": SMOKE_SETS, "output": None})
    if args.output is None:
        with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
            run(Path(tmp), args.num_cpus, args.set)
    else:
        out = Path(args.output)
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        run(out, args.num_cpus, args.set)


def run(out: Path, num_cpus: int, overrides: list[str]) -> None:
    """Ingest the sample into ``out``, run the sweep there with ``overrides`` and report (also to bench_sweep.json)."""
    from cryoray.config import load_config_with_sets
    from cryoray.pipelines.sample import ingest_sample_in_process
    from cryoray.tune import SweepConfig, run_sweep

    ingest_sample_in_process(out / "sample.zarr")
    path = Path(str(resources.files("cryoray.tune").joinpath("configs", "sample_sweep.yaml")))
    sets = [f"train.data.store={out / 'sample.zarr'}", f"output={out / 'sweeps'}", *overrides]
    sweep = load_config_with_sets(SweepConfig, path, sets)
    t0 = time.perf_counter()
    result = run_sweep(sweep, source=path, num_cpus=num_cpus)
    wall = time.perf_counter() - t0
    startups = trial_startups(result.tracking_uri, result.parent_run_id)
    print(result.table)
    print(f"\nsweep wall time {wall:.0f} s for {len(result.trials)} trials")
    for name, seconds in sorted(startups.items()):
        print(f"  {name}: start-up to step-0 validation {seconds:.1f} s")
    if startups:
        print(f"mean trial start-up {sum(startups.values()) / len(startups):.1f} s")
    (out / "bench_sweep.json").write_text(
        json.dumps({"wall_s": wall, "trials": result.trials, "startup_s": startups}, indent=1, default=str)
    )


if __name__ == "__main__":
    main()
