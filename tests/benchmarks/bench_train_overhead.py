"""Benchmark: time per optimiser step in a plain PyTorch loop vs in Ray Train, and 1 -> 2 workers.

    .venv/bin/python -m tests.benchmarks.bench_train_overhead [--store /tmp/bench_store/store.zarr] [--steps 30]
    .venv/bin/python -m tests.benchmarks.bench_train_overhead --smoke  # two small entries, 3 timed steps, 1 worker
    # published sizes (slow on CPU: seconds to minutes per step): --model unetr --steps 4 --warmup 1

The same model, loss (weighted CE on the ``atom`` labels with the training split's class counts),
optimiser (Adam), gradient clipping, precision and batch (8 sub-grids of 32³) run:

(a) plain: one process, a loop written like cryoray.train.loop's step (inputs, autocast, loss,
    zero_grad, backward, clip, step, schedule, loss read back), over sub-grids of the same
    training split read into memory beforehand (float32 input, int64 labels, as iter_torch_batches
    gives them);
(b) Ray Train: cryoray.train.run_training with 1 worker (1 CPU; data_cpus 1 left for the Ray Data
    reads), then 2 workers of 0.5 CPU each (DDP over gloo). On a 2-core machine the two workers and
    the reads share the same 2 cores, so "scaling" there measures contention as much as anything.

torch.set_num_threads(--threads, default 1) in the plain loop and in every worker (the worker
function is cryoray's train_loop wrapped to set it first; Ray would otherwise set
OMP_NUM_THREADS from the worker's CPUs).

How steps are timed (both cases the same way): a torch optimizer step post-hook
(``register_step_post_hook``) records time.perf_counter() after every step; a step's time is the
gap since the previous step, so it covers waiting for data, forward, backward, clipping, the
schedule and, in Ray Train, MLflow writes (every 10 steps) and DDP. The first ``--warmup`` steps
are dropped, and in Ray Train the first step of every epoch too (its gap holds the epoch-end
validation, checkpoint and the restart of the data pipeline, which a long real epoch amortises).
In Ray Train the hook is added by wrapping cryoray.train.loop.build_optimizer inside the worker
(nothing in cryoray is edited). This is more robust than MLflow's step timestamps (Tracker writes
10 steps per call, all with the time of the write) and than the per-epoch
``train/subgrids_per_s_per_worker`` (includes the first batch of every epoch); that metric is
reported as well.

Reported: mean and median seconds per step, sub-grids/s, Ray Train overhead over plain (goal <= 10 %),
and 1 -> 2 worker scaling (global sub-grids/s, efficiency = rate2 / (2 x rate1)).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tests.benchmarks.common import build_store, parse_args
from tests.support.data import ENTRIES, SMALL

GOAL_OVERHEAD = 0.10
MODELS = {
    # tests/support/training.py small_config's UNETR (hidden 32, 2 heads, features 8) scaled up a bit
    "small": {"name": "unetr", "hidden_size": 96, "mlp_dim": 192, "num_heads": 4, "feature_size": 8},
    # Cryo2Struct's UNETR as published (92.6 M parameters)
    "unetr": {"name": "unetr"},
    # CryoTEN's UNETR++ sizes, on the store's 32³ boxes and with 4 outputs for the atom classes
    # (published: 48³ boxes, 1 regression output)
    "unetrpp": {"name": "unetrpp", "img_size": 32, "out_channels": 4},
}


def train_config(
    store: Path,
    output: Path,
    name: str,
    model: dict,
    *,
    batch: int,
    workers: int,
    cpus: int,
    per_epoch: int,
    epochs: int,
    augment: float,
) -> dict:
    data: dict[str, object] = {"store": str(store), "holdout": "subgrids", "val_fraction": 0.05}
    if augment:
        data["augment"] = {"rot90": augment, "flip": augment}
    data_cpus = 1.0
    return {
        "name": name,
        "output": str(output),
        "data": data,
        "model": model,
        "targets": {"output": {"label": "atom", "loss": {"terms": [{"kind": "weighted_ce"}]}}},
        "optimizer": {"name": "adam", "lr": 1e-3},
        "schedule": {"epochs": epochs, "max_steps_per_epoch": per_epoch},
        "batch_size": batch,
        "workers": {"num_workers": workers, "cpus_per_worker": (cpus - data_cpus) / workers, "data_cpus": data_cpus},
        "checkpoints": {"keep": 1},
        "max_failures": 0,  # a restarted worker would time only the steps after its restart
    }


def stamp() -> tuple[float, float, float]:
    """Wall clock, CPU time of the calling (training) thread, CPU time of the whole process."""
    return time.perf_counter(), time.thread_time(), time.process_time()


def step_times(stamps: list, warmup: int, per_epoch: int | None) -> list[tuple[float, ...]]:
    """Per step (wall, thread CPU, process CPU) since the previous step, without warm-up steps and
    first steps of epochs."""
    out = []
    for i in range(1, len(stamps)):
        step = i + 1  # stamps[i] was taken after step number i + 1
        if step <= warmup or (per_epoch and (step - 1) % per_epoch == 0):
            continue
        out.append(tuple(b - a for a, b in zip(stamps[i - 1], stamps[i], strict=True)))
    return out


def counted_steps(total: int, warmup: int, per_epoch: int | None) -> int:
    return len(step_times([(0.0,)] * total, warmup, per_epoch))


def summarise(times: list[tuple[float, ...]], batch: int, workers: int) -> dict:
    """Wall-clock statistics, plus CPU seconds per step: the training thread's (with one torch
    thread, the model's own compute) and the whole process's (adds torch's other threads and, in
    Ray Train, the worker's data iterator thread: batching, shuffling, dtype conversion). CPU times
    move much less than wall time when other work shares the machine."""
    wall = [t[0] for t in times]
    mean = statistics.fmean(wall)
    return {
        "steps_timed": len(wall),
        "mean_s_per_step": round(mean, 4),
        "median_s_per_step": round(statistics.median(wall), 4),
        "p90_s_per_step": round(sorted(wall)[int(0.9 * (len(wall) - 1))], 4),
        "subgrids_per_s": round(batch * workers / mean, 2),
        "thread_cpu_s_per_step": round(statistics.fmean(t[1] for t in times), 4),
        "process_cpu_s_per_step": round(statistics.fmean(t[2] for t in times), 4),
    }


def plain_loop(config, plan, *, steps: int, warmup: int, threads: int, max_subgrids: int) -> dict:
    """(a): the training step of cryoray.train.loop in one process, data already in memory."""
    import numpy as np
    import torch

    from cryoray.losses import build_loss
    from cryoray.models import build_model
    from cryoray.train.evaluate import head_inputs, head_target
    from cryoray.train.optim import Schedule, build_optimizer
    from cryoray.train.targets import is_classification

    torch.set_num_threads(threads)
    labels = {head: t.label for head, t in config.targets.items()}
    # as cryoray.train.loop: float32 input and regression labels, int64 class labels
    dtypes = {
        "input": torch.float32,
        **{v: torch.int64 if is_classification(v) else torch.float32 for v in labels.values()},
    }
    names = ["input", *sorted(set(labels.values()))]
    parts: dict[str, list] = {n: [] for n in names}
    count = 0
    for block in plan.train_blocks:
        arrays = plan.store.read_block(block.entry_id, names, block.start, block.stop)
        rows = list(block.keep) if block.keep else slice(None)
        for n in names:
            parts[n].append(arrays[n][rows])
        count += block.size
        if count >= max_subgrids:
            break
    data = {n: torch.from_numpy(np.concatenate(p)[:max_subgrids]).to(dtypes[n]) for n, p in parts.items()}
    b = config.batch_size
    batches = [{n: t[i : i + b] for n, t in data.items()} for i in range(0, len(data["input"]) - b + 1, b)]

    torch.manual_seed(config.seed)
    device = torch.device("cpu")
    model = build_model(config.model)
    losses = {h: build_loss(t.loss, plan.class_counts.get(h)) for h, t in config.targets.items()}
    optimizer = build_optimizer(config.optimizer, model.parameters())
    schedule = Schedule(config.schedule, optimizer, warmup + steps)
    # as cryoray.train.loop: bf16 autocast when asked for (or "auto" on a GPU; this loop runs on the CPU)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")
    stamps: list[tuple[float, float, float]] = []
    optimizer.register_step_post_hook(lambda *_: stamps.append(stamp()))
    model.train()
    for step in range(1, warmup + steps + 1):
        batch = batches[(step - 1) % len(batches)]
        x = head_inputs(batch)
        with autocast:
            outputs = model(x)
        results = {h: losses[h](outputs[h].float(), head_target(batch, labels[h])) for h in labels}
        loss = sum(r.total for r in results.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        schedule.step(step)
        values = {"train/loss": float(loss.detach())}
        for head, result in results.items():
            values.update({f"train/{head}/{term}": float(v) for term, v in result.terms.items()})
    out = summarise(step_times(stamps, warmup, None), b, 1)
    out.update({"threads": torch.get_num_threads(), "subgrids_in_memory": len(data["input"])})
    return out


def make_worker_loop(threads: int, record_dir: str):
    """cryoray's train_loop with torch threads set first and a step hook that records times."""

    def loop(loop_config: dict) -> None:
        import ray.train
        import torch

        import cryoray.train.loop as cryo_loop

        torch.set_num_threads(threads)
        stamps: list[tuple[float, float, float]] = []
        original = cryo_loop.build_optimizer

        def build_optimizer(config, params):
            optimizer = original(config, params)
            optimizer.register_step_post_hook(lambda *_: stamps.append(stamp()))
            return optimizer

        cryo_loop.build_optimizer = build_optimizer
        try:
            cryo_loop.train_loop(loop_config)
        finally:
            cryo_loop.build_optimizer = original
            rank = ray.train.get_context().get_world_rank()
            record = {
                "threads": torch.get_num_threads(),
                "interop_threads": torch.get_num_interop_threads(),
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                "stamps": stamps,
            }
            Path(record_dir, f"rank{rank}.json").write_text(json.dumps(record))

    return loop


def ray_train(config_dict: dict, *, workers: int, warmup: int, threads: int, record_dir: Path) -> dict:
    """(b): cryoray.train.run_training with the wrapped loop; per-step times from rank 0's hook."""
    from mlflow.tracking import MlflowClient

    import cryoray.train.run as run_module
    from cryoray.config import validate_config
    from cryoray.train import TrainConfig

    record_dir.mkdir(parents=True)
    config = validate_config(TrainConfig, config_dict, source="bench")
    saved = run_module.train_loop
    run_module.train_loop = make_worker_loop(threads, str(record_dir))  # run_training hands this to TorchTrainer
    t0 = time.perf_counter()
    try:
        result = run_module.run_training(config, source="bench")
    finally:
        run_module.train_loop = saved
    wall = time.perf_counter() - t0
    per_epoch = int(config_dict["schedule"]["max_steps_per_epoch"])
    records = {int(p.stem[4:]): json.loads(p.read_text()) for p in record_dir.glob("rank*.json")}
    rank0 = records[0]
    timed = step_times(rank0["stamps"], warmup, per_epoch)
    if not timed:
        raise SystemExit(f"rank 0 recorded {len(rank0['stamps'])} steps: none left to time after warm-up")
    out = summarise(timed, config.batch_size, workers)
    history = MlflowClient(result.tracking_uri).get_metric_history(
        result.mlflow_run_id, "train/subgrids_per_s_per_worker"
    )
    epoch_rates = [m.value for m in sorted(history, key=lambda m: m.step)]
    out.update(
        {
            "workers": workers,
            "cpus_per_worker": config.workers.cpus_per_worker,
            "steps_total": len(rank0["stamps"]),
            "steps_per_epoch": per_epoch,
            "threads_per_worker": sorted({r["threads"] for r in records.values()}),
            "OMP_NUM_THREADS_in_workers": sorted({str(r["OMP_NUM_THREADS"]) for r in records.values()}),
            "mlflow_epoch_subgrids_per_s_per_worker": [round(v, 2) for v in epoch_rates],
            "run_training_wall_s": round(wall, 1),
        }
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="existing store, or where to build one (default: a temp folder)")
    parser.add_argument("--model", choices=list(MODELS), default="small")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per case (at least)")
    parser.add_argument("--warmup", type=int, default=5, help="first steps not timed")
    parser.add_argument(
        "--max-steps-per-epoch",
        type=int,
        default=20,
        help="Ray Train epoch length (the data has ~420 training sub-grids)",
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray Train worker counts to run")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch.set_num_threads in the plain loop and in every worker"
    )
    parser.add_argument(
        "--cpus", type=int, default=2, help="CPUs of the local Ray instance (1 of them kept for data reads)"
    )
    parser.add_argument(
        "--augment", type=float, default=0.0, help="rot90/flip probability in Ray Train (the plain loop never augments)"
    )
    parser.add_argument("--plain-subgrids", type=int, default=256, help="sub-grids held in memory by the plain loop")
    parser.add_argument("--entries", nargs="+", default=list(ENTRIES), choices=list(ENTRIES), help="store to build")
    args = parse_args(
        parser,
        {
            "entries": list(SMALL),
            "steps": 3,
            "warmup": 1,
            "max_steps_per_epoch": 4,
            "workers": [1],
            "plain_subgrids": 32,
        },
    )

    import ray

    from cryoray.config import validate_config
    from cryoray.models import build_model
    from cryoray.train import TrainConfig
    from cryoray.train.run import plan_training

    model = MODELS[args.model]
    results: dict[str, object] = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "model": model,
    }
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_train_")))
        ray_tmp = tempfile.mkdtemp(prefix="bt", dir="/tmp")  # short: Ray's socket paths are limited
        stack.callback(shutil.rmtree, ray_tmp, ignore_errors=True)
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, _temp_dir=ray_tmp)
        stack.callback(ray.shutdown)
        store = args.store or tmp / "store.zarr"
        if not store.exists():
            build_store(store, args.cpus, args.entries)

        def config_for(workers: int, epochs: int, name: str) -> dict:
            return train_config(
                store,
                tmp / "runs",
                name,
                model,
                batch=args.batch,
                workers=workers,
                cpus=args.cpus,
                per_epoch=args.max_steps_per_epoch,
                epochs=epochs,
                augment=args.augment,
            )

        # (a) plain PyTorch, data in memory
        first = validate_config(TrainConfig, config_for(1, 1, "plan"), source="bench")
        plan = plan_training(first, source="bench")
        params = sum(p.numel() for p in build_model(first.model).parameters())
        results["model_parameters_M"] = round(params / 1e6, 2)
        print(
            f"model {args.model}: {params / 1e6:.2f} M parameters, batch {args.batch} of "
            f"{first.model.img_size}³, torch threads {args.threads}",
            flush=True,
        )
        results["plain"] = plain_loop(
            first, plan, steps=args.steps, warmup=args.warmup, threads=args.threads, max_subgrids=args.plain_subgrids
        )
        print("plain:", results["plain"], flush=True)

        # (b) Ray Train, 1 then 2 workers; epochs so that at least --steps steps are timed
        runs = {}
        for workers in args.workers:
            cfg = validate_config(TrainConfig, config_for(workers, 1, "plan"), source="bench")
            per_epoch = plan_training(cfg, source="bench").steps_per_epoch
            epochs = 1
            while counted_steps(epochs * per_epoch, args.warmup, per_epoch) < args.steps:
                epochs += 1
            config = config_for(workers, epochs, f"w{workers}")
            config["schedule"]["max_steps_per_epoch"] = per_epoch
            runs[workers] = ray_train(
                config,
                workers=workers,
                warmup=args.warmup,
                threads=args.threads,
                record_dir=tmp / f"records_w{workers}",
            )
            print(f"ray train, {workers} worker(s):", runs[workers], flush=True)
        results["ray_train"] = {str(k): v for k, v in runs.items()}

    plain = results["plain"]
    summary: dict[str, object] = {"threads": args.threads}
    print(
        f"\n== {args.model} ({results['model_parameters_M']} M parameters), batch {args.batch}, torch "
        f"threads {args.threads}:"
        " seconds per optimiser step, wall mean / median; CPU s per step of the training thread / whole process"
    )

    def line(name: str, r: dict) -> str:
        return (
            f"  {name:34s} {r['mean_s_per_step']:7.3f} / {r['median_s_per_step']:7.3f}  "
            f"{r['subgrids_per_s']:6.1f} sub-grids/s"
            f"  cpu {r['thread_cpu_s_per_step']:.3f} / {r['process_cpu_s_per_step']:.3f}"
        )

    print(line("plain PyTorch, 1 process", plain))
    for workers, r in runs.items():
        print(line(f"Ray Train, {workers} worker(s) x {r['cpus_per_worker']:g} CPU", r))
        print(
            f"  {'':34s} MLflow train/subgrids_per_s_per_worker by epoch: {r['mlflow_epoch_subgrids_per_s_per_worker']}"
        )
    if 1 in runs:
        r = runs[1]
        overhead = r["mean_s_per_step"] / plain["mean_s_per_step"] - 1
        summary["ray_train_overhead"] = round(overhead, 4)
        summary["ray_train_overhead_median"] = round(r["median_s_per_step"] / plain["median_s_per_step"] - 1, 4)
        summary["ray_train_thread_cpu_overhead"] = round(
            r["thread_cpu_s_per_step"] / plain["thread_cpu_s_per_step"] - 1, 4
        )
        summary["ray_train_process_cpu_overhead"] = round(
            r["process_cpu_s_per_step"] / plain["process_cpu_s_per_step"] - 1, 4
        )
        summary["overhead_goal_met"] = overhead <= GOAL_OVERHEAD
        print(
            f"  Ray Train overhead, 1 worker vs plain: wall {100 * overhead:+.1f} % (median "
            f"{100 * summary['ray_train_overhead_median']:+.1f} %),"
            f" training-thread CPU {100 * summary['ray_train_thread_cpu_overhead']:+.1f} %,"
            f" worker-process CPU {100 * summary['ray_train_process_cpu_overhead']:+.1f} %;"
            f" goal <= {100 * GOAL_OVERHEAD:.0f} %"
        )
    if 1 in runs and 2 in runs:
        speedup = runs[2]["subgrids_per_s"] / runs[1]["subgrids_per_s"]
        summary["speedup_1_to_2_workers"] = round(speedup, 3)
        summary["scaling_efficiency_2_workers"] = round(speedup / 2, 3)
        print(
            f"  1 -> 2 workers: x{speedup:.2f} sub-grids/s (efficiency {100 * speedup / 2:.0f} %;"
            f" {args.cpus} CPUs shared by the workers and the reads)"
        )
    results["summary"] = summary
    print(json.dumps(results))


if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    main()
