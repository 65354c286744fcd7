"""Benchmark: ingest throughput, peak RAM of the largest entry, and our store vs per-sub-grid .npz.

    .venv/bin/python -m tests.benchmarks.bench_ingest [--cpus 2] [--reads 2000] [--smoke]

(from the repository root; ``--smoke``: the two small entries, EMD-3488 as the "largest", 50 reads, one epoch).

1. Ingest of every real entry with a model in ../shared/data/real on a local Ray instance:
   entries/min and sub-grids/s per core.
2. Peak RSS (VmHWM) of building the largest entry (EMD-0093, 220³ at 1.34 Å -> 295³ at 1 Å) in a
   fresh process.
3. The same sub-grids (input float16 + all labels) in our Zarr store and as one .npz file per
   sub-grid (the published datasets' layout; both np.savez and np.savez_compressed): bytes on
   disk, write time, and read throughput in random order, both as a training epoch would read
   (random chunk order, shuffled within a buffer) and as single random sub-grids.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.benchmarks.common import parse_args
from tests.support.data import ENTRIES, REAL, SMALL, local_rows, write_manifest

BIG_ENTRY_CHILD = r"""
import json, sys
from cryoray.pipelines.entry import build_entry
from cryoray.pipelines.ingest_config import IngestConfig
from cryoray.pipelines.manifest import ManifestRow
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
base = hwm()
row = ManifestRow.model_validate_json(sys.argv[1])
meta, grids = build_entry(row, IngestConfig())
print(json.dumps({"grid": meta["frame"]["shape"], "peak_over_imports_bytes": hwm() - base,
                  "grid_voxels": int(grids.grids["input"].size)}))
"""


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--reads", type=int, default=2000, help="single random sub-grid reads per layout")
    parser.add_argument("--epochs", type=int, default=3, help="epochs read per layout (the best counts)")
    parser.add_argument("--entries", nargs="+", default=list(ENTRIES), choices=list(ENTRIES), help="entries to ingest")
    parser.add_argument(
        "--largest", default="EMD-0093", choices=list(ENTRIES), help="the entry whose peak RSS is measured"
    )
    args = parse_args(parser, {"entries": list(SMALL), "largest": "EMD-3488", "reads": 50, "epochs": 1})

    import ray

    from cryoray.pipelines.ingest import run_ingest
    from cryoray.pipelines.ingest_config import IngestConfig
    from cryoray.pipelines.manifest import ManifestRow
    from cryoray.store import SubgridStore

    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = write_manifest(tmp / "m.csv", local_rows(args.entries))
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        t0 = time.perf_counter()
        report = run_ingest(str(manifest), str(tmp / "store.zarr"), IngestConfig())
        wall = time.perf_counter() - t0
        ray.shutdown()
        n_sub = report["n_subgrids"]
        results["ingest"] = {
            "entries": len(report["ingested"]),
            "subgrids": n_sub,
            "wall_s": round(wall, 1),
            "entries_per_min": round(60 * len(report["ingested"]) / wall, 2),
            "subgrids_per_s_per_core": round(n_sub / wall / args.cpus, 2),
        }
        print("ingest:", results["ingest"])

        m, mo, seq, res = ENTRIES[args.largest]
        row = ManifestRow(
            entry_id=args.largest, map=str(REAL / m), model=str(REAL / mo), sequence=str(REAL / seq), resolution=res
        )
        out = subprocess.run(
            [sys.executable, "-c", BIG_ENTRY_CHILD, row.model_dump_json()], capture_output=True, text=True, check=True
        )
        big = json.loads(out.stdout)
        big["peak_over_imports_MiB"] = round(big["peak_over_imports_bytes"] / 2**20)
        big["peak_bytes_per_grid_voxel"] = round(big["peak_over_imports_bytes"] / big["grid_voxels"], 1)
        results["largest_entry"] = big
        print("largest entry:", big)

        store = SubgridStore.open(tmp / "store.zarr")
        names = store.array_names[1:]  # input + labels
        layouts = {}
        for variant, saver in (("npz", np.savez), ("npz_compressed", np.savez_compressed)):
            folder = tmp / variant
            folder.mkdir()
            t0 = time.perf_counter()
            for entry in store.entries:
                arrays = {name: store.read(entry, name) for name in names}
                for i in range(len(arrays["input"])):
                    saver(folder / f"{entry}_{i:05d}.npz", **{k: v[i] for k, v in arrays.items()})
            layouts[variant] = {"write_s": round(time.perf_counter() - t0, 2), "bytes": du(folder), "files": n_sub}
        ours = {
            "bytes": du(tmp / "store.zarr"),
            "files": sum(1 for p in (tmp / "store.zarr").rglob("*") if p.is_file()),
        }
        layouts["zarr_store"] = ours

        rng = np.random.default_rng(0)
        index = store.index
        # Epoch in random order, as a training reader streams: blocks of 4 chunks (all arrays
        # fetched together) in random order, each shuffled.
        chunk = 4 * store.settings["chunk_subgrids"]
        chunks = [(e, s) for e, n in enumerate(np.bincount(index[:, 0])) for s in range(0, n, chunk)]

        def store_epoch() -> float:
            t0, count = time.perf_counter(), 0
            for j in rng.permutation(len(chunks)):
                e, s = chunks[j]
                batch = store.read_block(store.entries[e], names, s, s + chunk)
                count += len(rng.permutation(len(batch["input"])))
            return count / (time.perf_counter() - t0)

        def npz_epoch(files: list[Path]) -> float:
            t0 = time.perf_counter()
            for j in rng.permutation(len(files)):
                with np.load(files[j]) as z:
                    _ = [z[name] for name in names]
            return len(files) / (time.perf_counter() - t0)

        # Best of several epochs per layout, interleaved, so a busy moment hits all layouts alike.
        files = {v: sorted((tmp / v).glob("*.npz")) for v in ("npz", "npz_compressed")}
        best = {"zarr_store": 0.0, "npz": 0.0, "npz_compressed": 0.0}
        for _ in range(args.epochs):
            best["zarr_store"] = max(best["zarr_store"], store_epoch())
            for variant in files:
                best[variant] = max(best[variant], npz_epoch(files[variant]))
        for name, value in best.items():
            layouts[name]["epoch_subgrids_per_s"] = round(value, 1)
        # Single random sub-grids (a worst case for chunked storage).
        picks = rng.integers(0, len(index), args.reads)
        t0 = time.perf_counter()
        for p in picks:
            e, i = index[p]
            _ = [store.read(store.entries[e], name, i, i + 1) for name in names]
        ours["single_random_subgrids_per_s"] = round(args.reads / (time.perf_counter() - t0), 1)
        for variant, paths in files.items():
            t0 = time.perf_counter()
            for p in picks:
                with np.load(paths[p]) as z:
                    _ = [z[name] for name in names]
            layouts[variant]["single_random_subgrids_per_s"] = round(args.reads / (time.perf_counter() - t0), 1)
        for variant in ("npz", "npz_compressed"):
            layouts[variant]["store_bytes_ratio"] = round(ours["bytes"] / layouts[variant]["bytes"], 3)
            layouts[variant]["store_epoch_speedup"] = round(
                ours["epoch_subgrids_per_s"] / layouts[variant]["epoch_subgrids_per_s"], 2
            )
        results["layouts"] = layouts
        for name, values in layouts.items():
            print(f"{name}: {values}")
    print(json.dumps(results))


if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    main()
