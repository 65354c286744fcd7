"""Benchmark: peak memory and time of `prepare` (read -> cubic resample -> normalise -> write).

Each size runs in a fresh child process; its peak RSS (VmHWM, which, unlike ru_maxrss, is not
inherited from the parent across fork/exec) is reported minus the RSS after imports, as a
multiple of the map's float32 size. The target is <= ~4x.

    .venv/bin/python -m tests.benchmarks.bench_prepare_memory [--sizes 256 512] [--voxel 1.05] [--smoke]

(from the repository root; ``--smoke``: one 64³ map).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.benchmarks.common import parse_args

CHILD = r"""
import json, sys, time
import numpy as np
from cryoray.io import DensityMap, GridFrame, read_map, write_map
from cryoray.preprocessing import PrepareConfig, prepare_map
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
src, dst, n, voxel = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
base = hwm()
t0 = time.perf_counter()
density = read_map(src)
t_read = time.perf_counter() - t0
prepared, record = prepare_map(density, PrepareConfig(voxel_size=1.0, order=3))
t_prep = time.perf_counter() - t0 - t_read
write_map(dst, prepared, overwrite=True)
t_all = time.perf_counter() - t0
peak = hwm()
print(json.dumps({"n": n, "map_bytes": density.data.nbytes, "output_shape": list(prepared.frame.shape_xyz),
                  "peak_over_imports_bytes": peak - base, "ratio": (peak - base) / density.data.nbytes,
                  "read_s": round(t_read, 2), "prepare_s": round(t_prep, 2), "total_s": round(t_all, 2)}))
"""


def make_input(path: Path, n: int, voxel: float) -> None:
    """A smooth random map (not white noise, which would be unrealistic for splines)."""
    import numpy as np
    from scipy import ndimage

    from cryoray.io import DensityMap, GridFrame, write_map

    rng = np.random.default_rng(0)
    data = np.empty((n, n, n), dtype=np.float32)
    for k in range(0, n, 64):  # fill in slabs to keep this script's own memory low
        data[k : k + 64] = rng.normal(size=(min(64, n - k), n, n)).astype(np.float32)
    ndimage.gaussian_filter(data, 1.5, output=data)
    write_map(path, DensityMap(data, GridFrame((n, n, n), (voxel,) * 3, (-n * voxel / 2,) * 3)), overwrite=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--voxel", type=float, default=1.05, help="input voxel size in Å (default: %(default)s)")
    args = parse_args(parser, {"sizes": [64]})
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            src, dst = Path(tmp) / f"in_{n}.mrc", Path(tmp) / f"out_{n}.mrc"
            make_input(src, n, args.voxel)
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(src), str(dst), str(n), str(args.voxel)],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(out.stdout)
            results.append(result)
            print(
                f"{n}³ @ {args.voxel} Å -> {result['output_shape']} @ 1 Å: peak {result['ratio']:.2f}x the map "
                f"({result['peak_over_imports_bytes'] / 2**20:.0f} MiB over imports), "
                f"read {result['read_s']} s, prepare {result['prepare_s']} s, total {result['total_s']} s"
            )
            src.unlink()
            dst.unlink()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
