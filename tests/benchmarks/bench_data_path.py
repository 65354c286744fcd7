"""Benchmark: sub-grids/s the training data path delivers, from a local store and from S3.

    .venv/bin/python -m tests.benchmarks.bench_data_path [--store /tmp/bench_store/store.zarr] \
        [--repeat 10] [--passes 5] [--smoke]

(from the repository root; ``--smoke``: a store of the two small entries, one pass of the baseline and of
the ``best`` settings, local and S3).

What is timed is what a training worker consumes: ``read_subgrids(url, blocks, ["input", "atom"])``
(shuffled blocks, no augmentation unless ``--augment P``) iterated with
``iter_torch_batches(batch_size=32, dtypes={"input": float32, "atom": int64},
local_shuffle_buffer_size=256, drop_last=True)``, as cryoray.train.loop does, here in the driver
of a local Ray instance of ``--cpus`` CPUs. One pass = every planned block once; the first pass of
the baseline is a warm-up (worker processes start and open the store) and is not counted; knob
settings reuse those workers, and those that need new ones get their own warm-up pass.

Data: a store of the real entries of tests.support.data.ENTRIES (32³ float16 input, uint8
labels; ~450 sub-grids, built in ~45 s on 2 cores when ``--store`` does not exist yet; kept there
for reuse, or in a temp folder without ``--store``). Its blocks are repeated ``--repeat`` times so a
pass is several thousand sub-grids. The S3 source is the same store copied (s3fs ``put``) into a
moto_server bucket on 127.0.0.1, which runs on the same cores as everything else.

Reported per source and configuration: sub-grids/s (best and median of the passes), MB/s of the
arrays as stored decoded (float16 input + uint8 atom, 96 KiB per sub-grid) and as compressed on
disk, time to the first batch, and the S3/local ratio. Goals: >= 1500 sub-grids/s locally, S3 >=
50 % of local.

Every configuration is cryoray's ``read_subgrids`` with its arguments (``blocks_per_task``,
``ray_remote_args``); each pass must deliver every planned sub-grid (but the last partial batch).

Knobs (``--sweep``; each changes one thing from the baseline):
  block     data.block_subgrids 64 / 256 (baseline: None = 4 chunks = 128; a block never spans
            entries, so with small entries blocks stay smaller than asked)
  group     1 or 8 planned blocks per read task (baseline: read_subgrids' choice, about
            SUBGRIDS_PER_TASK sub-grids: 4 blocks of 128): fewer, larger tasks, since Ray Data
            costs tens of ms of CPU per task
  batch     batch size 8 / 128 (baseline 32)
  parallel  Ray Data limited to 1 CPU (DataContext.execution_options.resource_limits.cpu = 1: what a
            Ray Train run with one 1-CPU worker on 2 CPUs leaves the reads: one read task at a time)
  taskcpus  read tasks of 0.5 CPU (up to 2x as many reads in flight; ray_remote_args
            {"num_cpus": 0.5}). Slow: Ray keeps only about num_cpus idle workers
            and kills the rest within seconds, so every pass starts workers and reopens the store
  prefetch  iter_torch_batches(prefetch_batches=4) (baseline and cryoray.train.loop: 1)
  shuffle   local_shuffle_buffer_size 0 (what the buffer costs)
  s3        (S3 only) s3fs max_concurrency=1 via FSSPEC_S3 in the read tasks' environment: s3fs
            otherwise sends a HEAD (size) before every whole-object GET, i.e. two requests per chunk
  best      the helpful ones together: block_subgrids 256 + 4 blocks per task + no HEAD; and 4 blocks
            per task + no HEAD with Ray Data limited to 1 CPU, as inside training
Defaults run block group batch parallel s3 best; prefetch, shuffle and taskcpus on request.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.benchmarks.common import build_store, parse_args
from tests.support.data import ENTRIES, SMALL
from tests.support.servers import marked_pids, moto_s3, s3_env

NAMES = ("input", "atom")
BYTES_PER_VOXEL = 2 + 1  # float16 input + uint8 atom, as stored
GOAL_LOCAL = 1500.0
GOAL_RATIO = 0.5

BASELINE = {
    "block_subgrids": None,
    "blocks_per_task": None,
    "batch_size": 32,
    "shuffle_buffer": 256,
    "prefetch_batches": 1,
    "task_cpus": None,
    "data_cpu_limit": None,
    "fsspec_s3": None,
}
NO_HEAD = '{"max_concurrency": 1}'  # s3fs then skips the HEAD (size) request before each chunk GET
SWEEPS = {
    "block": [{"block_subgrids": 64}, {"block_subgrids": 256}],
    "group": [{"blocks_per_task": 1}, {"blocks_per_task": 8}],
    "batch": [{"batch_size": 8}, {"batch_size": 128}],
    "parallel": [{"data_cpu_limit": 1}],
    "taskcpus": [{"task_cpus": 0.5}],
    "prefetch": [{"prefetch_batches": 4}],
    "shuffle": [{"shuffle_buffer": 0}],
    "s3": [{"fsspec_s3": NO_HEAD}],
    "best": [
        {"block_subgrids": 256, "blocks_per_task": 4, "fsspec_s3": NO_HEAD},
        {"blocks_per_task": 4, "fsspec_s3": NO_HEAD, "data_cpu_limit": 1},
    ],
}
DEFAULT_SWEEP = ["block", "group", "batch", "parallel", "s3", "best"]


def copy_to_s3(local: Path, bucket: str) -> str:
    """Copy the store into a new bucket of the moto server the AWS_* variables point at."""
    import boto3
    import s3fs

    boto3.client("s3").create_bucket(Bucket=bucket)  # s3fs mkdir fails against moto in us-east-1
    fs = s3fs.S3FileSystem()
    t0 = time.perf_counter()
    fs.put(str(local), f"{bucket}/store.zarr", recursive=True)
    print(f"copied the store to s3://{bucket}/store.zarr in {time.perf_counter() - t0:.1f} s", flush=True)
    return f"s3://{bucket}/store.zarr"


def stored_bytes_per_subgrid(store_path: Path, n_subgrids: int) -> float:
    """Compressed bytes of input + atom on disk, per sub-grid (chunk files only)."""
    total = 0
    for name in NAMES:
        total += sum(
            p.stat().st_size for p in store_path.glob(f"entries/*/{name}/**/*") if p.is_file() and p.name != "zarr.json"
        )
    return total / n_subgrids


def plan(url: str, block_subgrids: int | None, repeat: int) -> list:
    """Every sub-grid of the store, in blocks, ``repeat`` times (the store's train split when it
    has splits with a train part, else every entry split by sub-grid with a tiny held-out share)."""
    from cryoray.data import plan_blocks
    from cryoray.store import SubgridStore

    store = SubgridStore.open(url)
    splits = store.attrs["splits"]
    if splits is not None and "train" in splits["assignment"].values():
        blocks = plan_blocks(store, "train", holdout="splits", block_subgrids=block_subgrids)
    else:
        blocks = plan_blocks(store, "train", holdout="subgrids", val_fraction=1e-6, block_subgrids=block_subgrids)
    return blocks * repeat


@contextlib.contextmanager
def data_context(cpu_limit: float | None) -> Iterator[None]:
    """Ray Data settings while a dataset is created (a Dataset copies the context when made)."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    saved = copy.deepcopy(ctx.execution_options)
    if cpu_limit is not None:
        ctx.execution_options.resource_limits = ctx.execution_options.resource_limits.copy(cpu=cpu_limit)
    try:
        yield
    finally:
        ctx.execution_options = saved


def dataset(url: str, blocks: list, knobs: dict, augment):
    """The dataset of one configuration: cryoray's read_subgrids with the knobs' blocks per task and task options."""
    from cryoray.data import read_subgrids

    remote: dict[str, object] = {}
    if knobs["task_cpus"] is not None:
        remote["num_cpus"] = knobs["task_cpus"]
    if knobs["fsspec_s3"] is not None:  # s3fs options through fsspec's config, in fresh workers
        remote["runtime_env"] = {"env_vars": {"FSSPEC_S3": knobs["fsspec_s3"]}}
    with data_context(knobs["data_cpu_limit"]):
        return read_subgrids(
            url, blocks, list(NAMES), augment=augment, blocks_per_task=knobs["blocks_per_task"], ray_remote_args=remote
        )


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by this process (the consumer and Ray Data's scheduler), the Ray worker
    processes (the read tasks), Ray's daemons (raylet, GCS...) and the moto server.

    Less sensitive than wall time to other work on a shared machine: CPU ms per sub-grid tells
    where the time goes, and 1000 * cores / (ms per sub-grid) bounds the rate on idle cores.
    Processes that exit between two readings (idle Ray workers) lose their share.
    """

    def __init__(self, ray_dir: str) -> None:
        self.ray_dir = ray_dir

    def read(self) -> dict[str, dict[int, float]]:
        ray_pids = set(marked_pids([], self.ray_dir)) - {os.getpid()}
        moto = set()
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                with contextlib.suppress(OSError):
                    ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                    if ppid == os.getpid() and b"moto_server" in (proc / "cmdline").read_bytes():  # ours only
                        moto.add(int(proc.name))
        workers = set()
        for pid in ray_pids:
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::"):
                    workers.add(pid)
        groups = {"driver": {os.getpid()}, "workers": workers, "raylet_gcs": ray_pids - workers, "moto": moto}
        return {group: {pid: _cpu_seconds(pid) for pid in pids} for group, pids in groups.items()}

    @staticmethod
    def used(before: dict, after: dict) -> dict[str, float]:
        return {g: sum(v - before[g].get(pid, 0.0) for pid, v in after[g].items()) for g in after}


def time_pass(ds, knobs: dict) -> tuple[int, float, float]:
    """(sub-grids, seconds, seconds to the first batch) of one pass, as the training loop iterates."""
    import torch

    t0 = time.perf_counter()
    first, n = None, 0
    for batch in ds.iter_torch_batches(
        batch_size=knobs["batch_size"],
        dtypes={"input": torch.float32, "atom": torch.int64},
        local_shuffle_buffer_size=knobs["shuffle_buffer"] or None,
        prefetch_batches=knobs["prefetch_batches"],
        drop_last=True,
    ):
        if first is None:
            first = time.perf_counter() - t0
        n += len(batch["input"])
    return n, time.perf_counter() - t0, first or 0.0


def measure(
    url: str,
    knobs: dict,
    *,
    repeat: int,
    passes: int,
    warmup: int,
    box: int,
    disk_bytes: float,
    augment,
    meter: CpuMeter,
) -> dict:
    blocks = plan(url, knobs["block_subgrids"], repeat)
    ds = dataset(url, blocks, knobs, augment)
    for _ in range(warmup):  # not counted
        time_pass(ds, knobs)
    before = meter.read()
    runs = [time_pass(ds, knobs) for _ in range(passes)]
    cpu = meter.used(before, meter.read())
    planned = sum(b.size for b in blocks)
    delivered = {n for n, _, _ in runs}
    if delivered != {planned - planned % knobs["batch_size"]}:  # drop_last: all but the last partial batch
        raise SystemExit(f"{label(knobs)} on {url}: passes gave {sorted(delivered)} sub-grids of {planned} planned")
    rates = [n / s for n, s, _ in runs]
    total = sum(n for n, _, _ in runs)
    decoded = box**3 * BYTES_PER_VOXEL
    best, median = max(rates), statistics.median(rates)
    return {
        "subgrids_per_pass": runs[0][0],
        "blocks": len(blocks),
        "passes_s": [round(s, 2) for _, s, _ in runs],
        "best_subgrids_per_s": round(best, 1),
        "median_subgrids_per_s": round(median, 1),
        "median_decoded_MB_per_s": round(median * decoded / 1e6, 1),
        "median_disk_MB_per_s": round(median * disk_bytes / 1e6, 1),
        "median_first_batch_s": round(statistics.median(f for _, _, f in runs), 3),
        "cpu_ms_per_subgrid": {g: round(1000 * v / total, 3) for g, v in cpu.items() if 1000 * v / total >= 0.005},
    }


def label(knobs: dict) -> str:
    changed = {k: v for k, v in knobs.items() if BASELINE[k] != v}
    return "baseline" if not changed else ",".join(f"{k}={v}" for k, v in changed.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--store", type=Path, help="existing store to read, or where to build one (default: a temp folder)"
    )
    parser.add_argument("--repeat", type=int, default=10, help="repeat the store's blocks this many times per pass")
    parser.add_argument("--passes", type=int, default=5, help="timed passes of the baseline (after one warm-up)")
    parser.add_argument("--sweep-passes", type=int, default=2, help="timed passes of each knob setting")
    parser.add_argument(
        "--sweep-warmup", type=int, default=0, help="warm-up passes of knob settings that reuse warm workers"
    )
    parser.add_argument(
        "--sweep",
        nargs="*",
        default=DEFAULT_SWEEP,
        choices=list(SWEEPS),
        help="knob groups to try (none: baseline only)",
    )
    parser.add_argument("--sources", nargs="+", default=["local", "s3"], choices=["local", "s3"])
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    parser.add_argument("--entries", nargs="+", default=list(ENTRIES), choices=list(ENTRIES), help="store to build")
    parser.add_argument(
        "--augment", type=float, default=0.0, help="rot90 and flip probability (training uses 0.4; 0 = none)"
    )
    args = parse_args(parser, {"entries": list(SMALL), "repeat": 1, "passes": 1, "sweep_passes": 1, "sweep": ["best"]})

    import ray
    import ray.data

    from cryoray.data import AugmentConfig
    from cryoray.store import SubgridStore

    augment = AugmentConfig(rot90=args.augment, flip=args.augment) if args.augment else None
    results: dict[str, object] = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    with contextlib.ExitStack() as stack:
        if "s3" in args.sources:
            endpoint = stack.enter_context(moto_s3())
            os.environ.update(s3_env(endpoint))  # before ray.init: the read tasks must see them
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_data_")))
        ray_tmp = tempfile.mkdtemp(prefix="bd", dir="/tmp")  # short: Ray's socket paths are limited
        stack.callback(shutil.rmtree, ray_tmp, ignore_errors=True)
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, _temp_dir=ray_tmp)
        stack.callback(ray.shutdown)
        meter = CpuMeter(ray_tmp)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # tqdm redraws in this process cost time; not part of the path
        ctx.print_on_execution_start = False

        store_path = args.store or tmp / "store.zarr"
        if not store_path.exists():
            build_store(store_path, args.cpus, args.entries)
        store = SubgridStore.open(store_path)
        n_subgrids = len(store.index)
        box = int(store.settings["tiling"]["box"])
        disk_bytes = stored_bytes_per_subgrid(store_path, n_subgrids)
        results["store"] = {
            "path": str(store_path),
            "subgrids": n_subgrids,
            "box": box,
            "input_dtype": store.settings["input_dtype"],
            "chunk_subgrids": store.settings["chunk_subgrids"],
            "disk_bytes_per_subgrid_input_atom": round(disk_bytes),
        }
        print("store:", results["store"], flush=True)
        urls = {"local": str(store_path)}
        if "s3" in args.sources:
            urls["s3"] = copy_to_s3(store_path, "bench-data-path")

        configs = [dict(BASELINE)] + [{**BASELINE, **change} for group in args.sweep for change in SWEEPS[group]]
        table: dict[str, dict[str, dict]] = {}
        for knobs in configs:
            name = label(knobs)
            passes = args.passes if name == "baseline" else args.sweep_passes
            # Worker processes that have opened the store already serve every setting but those that
            # start new workers (another runtime_env, or more workers than CPUs): those get a warm-up.
            fresh_workers = name == "baseline" or knobs["fsspec_s3"] is not None or knobs["task_cpus"] is not None
            warmup = 1 if fresh_workers else args.sweep_warmup
            row = table.setdefault(name, {})
            for source in args.sources:
                if source == "local" and label({**knobs, "fsspec_s3": None}) == "baseline" and knobs["fsspec_s3"]:
                    continue  # an S3-only setting
                r = row[source] = measure(
                    urls[source],
                    knobs,
                    repeat=args.repeat,
                    passes=passes,
                    warmup=warmup,
                    box=box,
                    disk_bytes=disk_bytes,
                    augment=augment,
                    meter=meter,
                )
                busy = sum(v for g, v in r["cpu_ms_per_subgrid"].items() if g != "moto")
                r["idle_cores_bound_subgrids_per_s"] = (
                    round(1000 * args.cpus / busy) if busy else None
                )  # moto's CPU left out
                print(f"{name:32s} {source:5s} {row[source]}", flush=True)
            if "local" in row and "s3" in row:
                row["s3_over_local"] = round(
                    row["s3"]["median_subgrids_per_s"] / row["local"]["median_subgrids_per_s"], 3
                )
        results["configs"] = table

    base = table["baseline"]
    print(
        "\n== sub-grids/s median (best), decoded MB/s, CPU ms per sub-grid (by process group), bound = cores / CPU per"
        f" sub-grid without moto's; goals: local >= {GOAL_LOCAL:.0f}/s, S3 >= {100 * GOAL_RATIO:.0f} % of local"
    )
    for name, row in table.items():
        cells = []
        for source in args.sources:
            if source not in row:
                continue
            r = row[source]
            cpu = r["cpu_ms_per_subgrid"]
            cells.append(
                f"{source} {r['median_subgrids_per_s']:6.0f} ({r['best_subgrids_per_s']:.0f}) "
                f"{r['median_decoded_MB_per_s']:5.1f} MB/s"
                f" cpu {sum(cpu.values()):.2f} ms ({'/'.join(f'{v:.2f}' for v in cpu.values())} "
                f"{'/'.join(cpu)}) bound {r['idle_cores_bound_subgrids_per_s']}/s"
            )
        if "s3_over_local" in row:
            cells.append(f"S3/local {row['s3_over_local']:.2f}")
        print(f"  {name:32s} " + " | ".join(cells))
    verdict = {}
    if "local" in base:
        verdict["local_goal_met"] = base["local"]["median_subgrids_per_s"] >= GOAL_LOCAL
    if "s3_over_local" in base:
        verdict["s3_goal_met"] = base["s3_over_local"] >= GOAL_RATIO
    for source in args.sources:
        verdict[f"fastest_{source}"] = max(
            (k for k in table if source in table[k]), key=lambda k: table[k][source]["median_subgrids_per_s"]
        )
    results["verdict"] = verdict
    print("verdict:", verdict)
    print(json.dumps(results))


if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    main()
