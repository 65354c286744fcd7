"""Benchmark: batch inference — real maps end to end, the driver's CPU per voxel, 1 vs 2 predictor
actors, and a predictor's peak memory against map size.

    .venv/bin/python -m tests.benchmarks.bench_batch_infer [--cpus 2] [--build] [--sizes 100 200 300 400 500]
        [--copies 8] [--scale-size 192] [--slab-voxels 4000000] [--json] [--smoke]

(from the repository root; ``--smoke``: size 64 in 4 slabs, two copies of a 48³ map, the real-map
run on EMD-21457's segment (with a FASTA: a threaded model) and EMD-3001 (fails)).

1. **real**: every real map of ../shared/data/real with a tiny random-weight SegFormer3D (32³
   boxes, atom + amino-acid heads, as tests/infer), P(Cα) maps (and with ``--build`` threaded
   models: slow, a random network's candidates are everywhere); unreadable
   maps (EMD-3001: non-orthogonal cell) fail, as in any run. Entries per minute.
2. **scaling**: ``--copies`` entries of a ``--scale-size``³ map with a tiny random UNETR++ (16³
   boxes), with 1 and then 2 predictor actors of 1 CPU each: entries per minute, and the ratio.
3. **memory**: one entry per ``--sizes`` N (an N³ map at 1 Å: EMD-21457's segment repeated to
   fill it, so every box holds real density) with ``actors.slab_voxels`` = ``--slab-voxels``: the
   predictor actor's peak private memory (``RssAnon``, from the entry's summary: its RSS also
   counts the object store's shared pages it read) and the driver's CPU seconds per 10⁹
   voxels (its process CPU time over the run, model check included); then the largest map once
   more with two predictor actors: how many took its slabs, and the speed-up.

With ``--json`` the last line is one JSON object ``{"real": …, "scaling": […], "memory": […],
"large_map_two_predictors": …}``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.benchmarks.common import parse_args
from tests.support.data import REAL, REAL_MAPS, real
from tests.support.models import write_enhance_checkpoint, write_segment_checkpoint


def manifest_of_real_maps(path: Path, entries: list[str] | None = None) -> Path:
    """A batch manifest (``entry_id,map,sequence``) of the real maps, or of those named in ``entries``."""
    rows = []
    for folder in sorted(p for p in REAL.iterdir() if p.is_dir()):
        maps = sorted(
            m
            for m in folder.iterdir()
            if m.name.endswith((".mrc", ".map", ".mrc.gz", ".map.mrc")) and "mask" not in m.name
        )
        fasta = sorted(folder.glob("*.fasta"))
        for m in maps:
            entry = folder.name.split("_")[0] + ("" if len(maps) == 1 else "-" + m.name.split(".")[0])
            if entries is None or entry in entries:
                rows.append(f"{entry},{m},{fasta[0] if fasta else ''}")
    if entries is not None and len(rows) != len(entries):
        raise SystemExit(f"--entries: {len(rows)} of {entries} found in {REAL}")
    path.write_text("\n".join(["entry_id,map,sequence", *rows]) + "\n")
    return path


def filled_map(path: Path, size: int) -> Path:
    """An ``size``³ map at 1 Å: EMD-21457's segment repeated (``np.pad`` wrap) to fill it."""
    from cryoray.io import DensityMap, GridFrame, read_map, write_map

    seed = read_map(real(REAL_MAPS["21457-origin"])).data
    data = np.pad(seed, [(0, max(0, size - n)) for n in seed.shape], mode="wrap")[:size, :size, :size]
    write_map(path, DensityMap(np.ascontiguousarray(data, np.float32), GridFrame((size,) * 3, (1.0,) * 3, (0.0,) * 3)))
    return path


def run(manifest: Path, output: Path, settings: dict) -> tuple[dict, float]:
    """One batch run (new actors each time); (its report, the driver's CPU seconds)."""
    from cryoray.infer.batch import run_batch_inference
    from cryoray.infer.batch_config import BatchInferConfig

    config = BatchInferConfig.model_validate(settings)
    cpu = time.process_time()
    report = run_batch_inference(str(manifest), str(output), config, progress=False)
    return report, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--entries", nargs="+", help="real-map run: only these entries (as the manifest names them)")
    parser.add_argument("--build", action="store_true", help="real-map run: thread models too")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 300, 400, 500])
    parser.add_argument("--skip", nargs="+", default=[], choices=["real", "scaling", "memory"], help="parts not to run")
    parser.add_argument("--copies", type=int, default=8, help="entries of the scaling run")
    parser.add_argument("--scale-size", type=int, default=192, help="edge of the scaling run's maps (voxels)")
    parser.add_argument("--slab-voxels", type=int, default=4_000_000, help="actors.slab_voxels of the memory run")
    parser.add_argument("--json", action="store_true")
    args = parse_args(
        parser,
        {
            "entries": ["EMD-21457-emd_21457_seg", "EMD-3001"],
            "build": True,
            "sizes": [64],
            "copies": 2,
            "scale_size": 48,
            "slab_voxels": 48 * 48 * 20,
        },
    )
    import ray

    results: dict[str, object] = {}
    # one CPU more than --cpus: the driver's finish tasks beside two 1-CPU predictors
    ray.init(num_cpus=args.cpus + 1, log_to_driver=False, include_dashboard=False)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        segment = write_segment_checkpoint(tmp_path / "segment")
        enhance = write_enhance_checkpoint(tmp_path / "enhance")
        infer = {"batch_size": 32, "device": "cpu"}

        if "real" not in args.skip:
            results["real"] = real_maps(tmp_path, segment, infer, args)
        if "scaling" not in args.skip:
            results["scaling"] = scaling(tmp_path, enhance, infer, args)
        if "memory" not in args.skip:
            results["memory"], results["large_map_two_predictors"] = memory(tmp_path, enhance, infer, args)
    ray.shutdown()
    if args.json:
        print(json.dumps(results))


def real_maps(tmp_path: Path, segment: Path, infer: dict, args: argparse.Namespace) -> dict:
    """Part 1: the real maps."""
    manifest = manifest_of_real_maps(tmp_path / "real.csv", args.entries)
    settings = {
        "models": [str(segment)],
        "infer": infer,
        "outputs": {"maps": ["atom_CA"], "model": args.build},
        "build": {"candidates": {"threshold": 0.26}},
        "actors": {"cpus_per_predictor": 1, "read_cpus": 0.5, "finish_cpus": 0.25, "alignment_cpus": 0.25},
    }
    report, _ = run(manifest, tmp_path / "real-out", settings)
    real = {k: report[k] for k in ("n_entries", "n_done", "n_failed", "seconds", "entries_per_minute")}
    real["failed"] = [f"{f['entry_id']}: {f['error']}" for f in report["failed"]]
    print(json.dumps({"real": real}), flush=True)
    return real


def scaling(tmp_path: Path, enhance: Path, infer: dict, args: argparse.Namespace) -> list[dict]:
    """Part 2: the same entries with one and with two predictor actors."""
    scale_map = filled_map(tmp_path / f"scale-{args.scale_size}.mrc", args.scale_size)
    manifest = tmp_path / "scale.csv"
    manifest.write_text("entry_id,map\n" + "".join(f"E{i},{scale_map}\n" for i in range(args.copies)))
    rows = []
    for predictors in (1, 2):
        settings = {
            "models": [str(enhance)],
            "infer": infer,
            "actors": {
                "predictors": predictors,
                "cpus_per_predictor": 1,
                "read_cpus": 0.25,
                "finish_cpus": 0.25,
                "wait_for_predictors_s": 600,  # both up before the first entry: a fair start
            },
        }
        report, driver_cpu = run(manifest, tmp_path / f"scale-out-{predictors}", settings)
        row = {
            "predictors": predictors,
            "entries": report["n_done"],
            "seconds": report["seconds"],
            "entries_per_minute": report["entries_per_minute"],
            "driver_cpu_s": round(driver_cpu, 2),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    rows[1]["speedup"] = round(rows[1]["entries_per_minute"] / rows[0]["entries_per_minute"], 2)
    return rows


def memory(tmp_path: Path, enhance: Path, infer: dict, args: argparse.Namespace) -> tuple[list[dict], dict]:
    """Part 3: one map of each size, its predictor's memory and the driver's CPU; the largest on two predictors."""
    rows, shared = [], {}
    for size in args.sizes:
        source = filled_map(tmp_path / f"map-{size}.mrc", size)
        manifest = tmp_path / f"memory-{size}.csv"
        manifest.write_text(f"entry_id,map\nN{size},{source}\n")
        settings = {
            "models": [str(enhance)],
            "infer": infer,
            "actors": {"cpus_per_predictor": 1, "read_cpus": 0.5, "slab_voxels": args.slab_voxels},
        }
        out = tmp_path / f"memory-out-{size}"
        report, driver_cpu = run(manifest, out, settings)
        summary = json.loads((out / f"N{size}" / "summary.json").read_text())
        row = {
            "size": size,
            "voxels": size**3,
            "slabs": summary["n_slabs"],
            "seconds": report["seconds"],
            "predictor_peak_private_mib": summary["predictor_peak_private_mib"],
            "driver_cpu_s": round(driver_cpu, 2),
            "driver_cpu_s_per_gvoxel": round(driver_cpu / size**3 * 1e9, 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        if size == args.sizes[-1]:  # the largest map again, its slabs shared by two predictors
            settings["actors"] |= {"predictors": 2, "wait_for_predictors_s": 600}
            out = tmp_path / f"shared-out-{size}"
            report, _ = run(manifest, out, settings)
            summary = json.loads((out / f"N{size}" / "summary.json").read_text())
            shared = {
                "size": size,
                "slabs": summary["n_slabs"],
                "predictors_used": len(summary["predictors"]),
                "seconds": report["seconds"],
                "speedup": round(row["seconds"] / report["seconds"], 2),
            }
            print(json.dumps(shared), flush=True)
        source.unlink()
    return rows, shared


if __name__ == "__main__":
    main()
