"""Benchmark: `local_resolution` (the estimator behind `cryoray local-resolution`): seconds and peak RSS.

    .venv/bin/python -m tests.benchmarks.bench_local_resolution [--entry EMD-0093] [--voxel-size 1.0]
        [--box 24] [--threads 1 2] [--whole-box] [--smoke]

(from the repository root; ``--smoke``: EMD-3488 on its own 100³ grid, one thread, the mask only.)

No real half maps are available: a first child process reads the map (EMD-0093's 220³ at 1.34 Å,
resampled to ``--voxel-size`` Å: 295³ at 1 Å), makes synthetic halves of it (left half low-passed
to 4 Å, right half to 8 Å, independent noise of 3 σ per half) and a mask (the deposited model's
atoms plus 3 Å), and writes them to a temporary folder. Then, for each thread count, a fresh
child reads the halves and the mask and times the estimator; its peak RSS (VmHWM) is reported
with the RSS it had before the estimator started (the halves and the mask), so the difference is
the estimator's own working memory. ``--whole-box`` also measures every voxel of the box, no mask.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

from tests.benchmarks.common import parse_args
from tests.support.data import ENTRIES, REAL

MAKE = r"""
import sys
import numpy as np
from cryoray.io import read_map, write_map
from cryoray.io.models import read_model
from cryoray.preprocessing import resample, synthetic_halves, zone_mask
entry_map, entry_model, voxel, folder = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
density = read_map(entry_map)
if voxel > 0:
    density = resample(density, voxel)
labels = (np.arange(density.frame.shape[2]) >= density.frame.shape[2] // 2).astype(np.int64)
made = synthetic_halves(density, np.broadcast_to(labels, density.frame.shape), [4.0, 8.0], noise=3.0, seed=0)
write_map(f"{folder}/half1.mrc", made.half1)
write_map(f"{folder}/half2.mrc", made.half2)
mask = zone_mask(density.frame, read_model(entry_model).atoms().xyz, 3.0)
write_map(f"{folder}/mask.mrc", density.with_data(mask.astype(np.float32)))
"""

MEASURE = r"""
import json, sys, time
import numpy as np
from cryoray.io import read_map
from cryoray.metrics.local_resolution import local_resolution
folder, box, threads, whole = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
def status(key):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key))
halves = [read_map(f"{folder}/half{i}.mrc") for i in (1, 2)]
mask = None if whole else read_map(f"{folder}/mask.mrc").data >= 0.5
before = status("VmRSS")
t0 = time.perf_counter()
result = local_resolution(*halves, mask=mask, box=box, workers=threads)
seconds = time.perf_counter() - t0
x = np.broadcast_to(np.arange(result.mask.shape[2]), result.mask.shape)
half = result.mask.shape[2] // 2
left = result.map.data[result.mask & (x < half - box // 2)]
right = result.map.data[result.mask & (x >= half + box // 2)]
print(json.dumps({"mode": "whole box" if whole else "mask", "threads": threads, "grid": list(result.map.frame.shape),
                  "voxels_measured": int(result.mask.sum()), "boxes": result.n_boxes, "box": result.box,
                  "stride": result.stride, "seconds": round(seconds, 2),
                  "boxes_per_second": round(result.n_boxes / seconds), "rss_before_mib": round(before / 1024),
                  "peak_rss_mib": round(status("VmHWM") / 1024),
                  "median_4A_region": round(float(np.median(left)), 2) if left.size else None,
                  "median_8A_region": round(float(np.median(right)), 2) if right.size else None}))
"""


def _child(code: str, *argv: str) -> str:
    run = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=False)
    if run.returncode:
        sys.exit(run.stderr[-3000:])
    return run.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entry", default="EMD-0093", choices=sorted(ENTRIES))
    parser.add_argument("--voxel-size", type=float, default=1.0, help="resample to this voxel size first (0: as is)")
    parser.add_argument("--box", type=int, default=24, help="box edge in voxels")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="FFT threads, one run each")
    parser.add_argument("--whole-box", action="store_true", help="also measure every voxel of the box (no mask)")
    args = parse_args(parser, {"entry": "EMD-3488", "voxel_size": 0.0, "threads": [1]})
    map_path, model_path, _, _ = ENTRIES[args.entry]
    with tempfile.TemporaryDirectory() as folder:
        _child(MAKE, str(REAL / map_path), str(REAL / model_path), str(args.voxel_size), folder)
        runs = [(threads, False) for threads in args.threads]
        if args.whole_box:
            runs.append((max(args.threads), True))
        for threads, whole in runs:
            result = json.loads(_child(MEASURE, folder, str(args.box), str(threads), "1" if whole else "0"))
            print(json.dumps({"entry": args.entry, **result}), flush=True)


if __name__ == "__main__":
    main()
