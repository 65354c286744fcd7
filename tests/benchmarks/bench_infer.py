"""Whole-map inference benchmark: EMD-0093 (220³ @ 1.34 Å → ~295³ at 1 Å), UNETR++ at 48³ (cryoten-eval).

CryoTEN's UNETR++ (the shipped cryoten_unetrpp.yaml model, random weights: timing only) predicts
the whole prepared map in batches; reported: wall time, voxels/s (prepared grid), peak RSS, and
the share of the prediction loop spent outside the model's forward passes (tiling, stitching,
transfers excluded from it; goal ≤ 10 %).

On a small CPU machine the whole map takes long; ``--crop N`` predicts an N³ block from the
map's centre and extrapolates the full-map time from the per-box time (said so in the output).

    .venv/bin/python -m tests.benchmarks.bench_infer --crop 96
    .venv/bin/python -m tests.benchmarks.bench_infer --device cuda --batch-size 16
    .venv/bin/python -m tests.benchmarks.bench_infer --smoke    # a 32 Å block: one box

(from the repository root).
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import yaml

from cryoray.infer import InferConfig, Predictor, TilePlan, predict_map
from cryoray.io import DensityMap, GridFrame, read_map
from cryoray.models import build_model
from cryoray.models.config import UNETRPPConfig
from cryoray.train.targets import head_specs
from tests.benchmarks.common import parse_args
from tests.support.data import REAL_MAPS, REPO, real

CONFIG = REPO / "platform/cryoray/train/configs/cryoten_unetrpp.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--crop", type=int, help="predict only an N³ block (Å) from the prepared map's centre")
    parser.add_argument("--blend", default="constant", choices=("constant", "gaussian"))
    args = parse_args(parser, {"crop": 32, "batch_size": 1})

    train = yaml.safe_load(CONFIG.read_text())
    model_config = UNETRPPConfig.model_validate(train["model"])
    labels = {head: target["label"] for head, target in train["targets"].items()}
    model = build_model(model_config)
    heads = {h.name: h for h in head_specs(model.out_channels_by_head, labels)}
    predictor = Predictor(model, heads, box=model_config.img_size, device=args.device)
    n_params = sum(p.numel() for p in model.parameters())

    density = read_map(real(REAL_MAPS["0093-gz"]))
    full_shape = density.frame.with_voxel_size(1.0).shape
    config = InferConfig(tiling="cryoten-eval", batch_size=args.batch_size, blend=args.blend, device=args.device)
    full_boxes = len(TilePlan.for_shape(full_shape, config.tiling_for(48)))
    if args.crop:
        # a block of the input around its centre covering ~crop Å (the prepared grid is then ~crop³)
        n = int(np.ceil(args.crop / density.voxel_size[0])) + 1
        c = [s // 2 for s in density.data.shape]
        sl = tuple(slice(max(0, ci - n // 2), max(0, ci - n // 2) + n) for ci in c)
        lo = np.array([s.start for s in sl])[::-1] * np.asarray(density.voxel_size) + np.asarray(density.origin)
        block = np.ascontiguousarray(density.data[sl])
        density = DensityMap(block, GridFrame(block.shape, density.voxel_size, tuple(lo)))

    # warm-up (first-call allocations, kernel selection)
    predictor.predict(np.zeros((args.batch_size, 1, 48, 48, 48), np.float32))
    predictor.forward_seconds = 0.0
    t0 = time.perf_counter()
    prediction = predict_map(density, predictor, config)
    back = prediction.on_source_frame("output")
    wall = time.perf_counter() - t0
    stats = prediction.stats
    voxels = prediction.frame.n_voxels
    per_box = stats.seconds / stats.boxes
    report = {
        "device": str(predictor.device),
        "model": f"unetrpp (cryoten_unetrpp.yaml), {n_params / 1e6:.1f} M parameters, random weights",
        "tiling": "cryoten-eval 48³ stride 38",
        "batch_size": args.batch_size,
        "input_shape_xyz": list(density.frame.shape_xyz),
        "prepared_shape_xyz": list(prediction.frame.shape_xyz),
        "boxes": stats.boxes,
        "wall_seconds": round(wall, 2),
        "loop_seconds": round(stats.seconds, 2),
        "forward_seconds": round(stats.forward_seconds, 2),
        "prepare_seconds": round(stats.stages.get("prepare", 0.0), 2),
        "resample_back_and_rest_seconds": round(wall - stats.seconds - stats.stages.get("prepare", 0.0), 2),
        "overhead_share_loop": round(stats.overhead_share, 4),
        "overhead_share_wall": round(1 - stats.forward_seconds / wall, 4),
        "voxels_per_second": round(voxels / wall),
        "seconds_per_box": round(per_box, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "output_frame_equals_input": back.frame == density.frame,
    }
    if args.crop:
        report["full_map"] = {
            "prepared_shape_xyz": list(full_shape[::-1]),
            "boxes": full_boxes,
            "extrapolated_loop_seconds": round(full_boxes * per_box, 1),
            "extrapolated_voxels_per_second": round(int(np.prod(full_shape)) / (full_boxes * per_box)),
            "note": "extrapolated from the crop's seconds per box; not measured",
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
