"""Benchmark: `cryoray evaluate` of a real map with its model, stage by stage, in a fresh process.

    .venv/bin/python -m tests.benchmarks.bench_evaluate [--entry EMD-0093] [--voxel-size 1.0] [--smoke]

(from the repository root; ``--smoke``: EMD-3488 with 5ME2 on its own grid.)

The child process reads the map (resampled to ``--voxel-size`` Å first when given: EMD-0093's
220³ at 1.34 Å becomes 295³ at 1 Å, the grid networks see) and the model, then times each
stage of the evaluation (Q-scores of every atom; the model map; CC_box/mask/volume/peaks; the
map–model FSC; the pictures) and the whole ``cryoray evaluate -o`` command path. Peak RSS is the
child's high-water mark (VmHWM). Half maps are made from the map plus independent noise (no real
ones are available), so the half-map FSC is timed too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from tests.benchmarks.common import parse_args
from tests.support.data import ENTRIES, REAL

CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path
import numpy as np
entry_map, entry_model, resolution, voxel = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
from cryoray.io import read_map
from cryoray.io.density_map import DensityMap
from cryoray.io.models import read_model
from cryoray.evaluation import evaluate_map, save_pictures
from cryoray.labels.simulate import simulate_map
from cryoray.metrics import fsc, map_model_correlations, q_score, cc_mask_radius
from cryoray.preprocessing import resample, zone_mask
seconds = {}
def timed(name, fn, *args, **kwargs):
    t = time.perf_counter(); out = fn(*args, **kwargs); seconds[name] = round(time.perf_counter() - t, 2); return out
density = timed("read_map", read_map, entry_map)
if voxel > 0:
    density = timed("resample", resample, density, voxel)
atoms = timed("read_model", read_model, entry_model).atoms()
rng = np.random.default_rng(0)
noisy = [density.data + rng.normal(0, density.data.std(), density.data.shape) for _ in range(2)]
halves = tuple(DensityMap(data=n.astype(np.float32), frame=density.frame) for n in noisy)
del noisy
simulate_map(atoms.select(np.arange(10)), density.frame, resolution)  # numba compiles (or loads its cache) first
report = timed("q_score_all_atoms", q_score, density, atoms)
model_map = timed("model_map", simulate_map, atoms, density.frame, resolution)
mask = timed("cc_mask_zone", zone_mask, density.frame, atoms.xyz, cc_mask_radius(resolution))
cc = timed("cc_box_mask_volume_peaks", map_model_correlations, density, model_map, mask)
timed("map_model_fsc", fsc, density, model_map)
timed("half_map_fsc", fsc, *halves)
evaluation = timed("evaluate_map_total", evaluate_map, density, atoms=atoms, half_maps=halves, resolution=resolution)
with tempfile.TemporaryDirectory() as folder:
    timed("pictures", save_pictures, folder, evaluation, density, atoms)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"grid": list(density.frame.shape), "voxel_size": density.frame.voxel_size[0], "atoms": len(atoms),
                  "q_mean": round(report.overall, 4), "cc_mask": round(cc.cc_mask, 4), "seconds": seconds,
                  "peak_rss_mib": round(hwm / 1024)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entry", default="EMD-0093", choices=sorted(ENTRIES))
    parser.add_argument("--voxel-size", type=float, default=1.0, help="resample to this voxel size first (0: as is)")
    args = parse_args(parser, {"entry": "EMD-3488", "voxel_size": 0.0})
    map_path, model_path, _, resolution = ENTRIES[args.entry]
    argv = [str(REAL / map_path), str(REAL / model_path), str(resolution), str(args.voxel_size)]
    run = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, check=False)
    if run.returncode:
        sys.exit(run.stderr[-3000:])
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(json.dumps({"entry": args.entry, "resolution": resolution, **result}, indent=1))


if __name__ == "__main__":
    main()
