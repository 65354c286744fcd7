"""Probability maps from a voxel classifier (Cα / atom / amino-acid / secondary structure), on the input's grid.

Writes one map per class of every classification head, OUTDIR/HEAD_CLASS.mrc (e.g.
atom_CA.mrc, amino_acid_ALA.mrc), plus OUTDIR/segment.json. Probabilities are predicted on
the 1 Å grid, stitched (weighted mean) and put back on the input's grid trilinearly, so each
head's classes still sum to 1 at every voxel and every map overlays the input in ChimeraX.
Large maps with many classes are stitched into a memory-mapped scratch file in OUTDIR.
Voxel size, percentile, tiling and blend are the model bundle's unless given (segment.json says
where each came from).

Example usage:
  $ cryoray segment emd_3488.map -o seg/ --model runs/c2s2/checkpoint_000020
  $ cryoray segment emd_3488.map -o seg/ --model models:/c2s2-atoms/1 --tracking-uri sqlite:///mlflow.db --heads atom
  $ cryoray segment --half-maps h1.mrc h2.mrc -o seg/ --model c2s2 --halves both --json
"""

from __future__ import annotations

import argparse
import json
import os

from cryoray.cli.inference import (
    add_inference_args,
    ensure_dir,
    infer_config,
    load_models,
    mask_config,
    read_inputs,
    resolve_models,
)
from cryoray.cli.output import emit
from cryoray.io import DensityMap, check_output, write_map

#: stitch into a memory-mapped file above this many output bytes on the prepared grid
_SCRATCH_BYTES = 1 << 30


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("map", nargs="?", help="input map, path or URL (or --half-maps)")
    parser.add_argument("-o", "--output", required=True, help="output folder (created)")
    parser.add_argument("--heads", nargs="+", help="classification heads to write (default: all)")
    parser.add_argument("--float16", action="store_true", help="write mode 12 (half the size)")
    add_inference_args(parser)


def main(args: argparse.Namespace) -> None:
    config = infer_config(args)
    mask = mask_config(args)
    directories = resolve_models(args, [args.model])
    density, source = read_inputs(args)
    (predictor,) = load_models(directories, [args.model], config)

    from cryoray.infer.channels import segment_channels
    from cryoray.infer.recipe import Recipe
    from cryoray.infer.whole_map import predict_map

    channels = segment_channels(predictor.spec, args.heads)
    voxel_size = Recipe.for_models([predictor.spec], config).prepare.voxel_size
    outdir = ensure_dir(args.output)
    paths = {c.name: os.path.join(outdir, f"{c.name}.mrc") for c in channels}
    for path in [*paths.values(), os.path.join(outdir, "segment.json")]:
        check_output(path, overwrite=args.overwrite)
    heads = sorted({c.head for c in channels})
    prediction = predict_map(
        density,
        predictor,
        config,
        heads=heads,
        halves=getattr(args, "halves", "average"),
        mask=mask,
        scratch_dir=outdir if len(channels) * _voxels(density, voxel_size) * 4 > _SCRATCH_BYTES else None,
        source=source,
    )
    try:
        for name, path in paths.items():
            out = prediction.on_source_frame(name)
            labels = (f"cryoray segment {predictor.name} {name}"[:80], prediction.record.label())
            write_map(path, out, overwrite=args.overwrite, float16=args.float16, labels=labels)
    finally:
        prediction.close()
    report = {
        "input": source,
        "output": str(outdir),
        "model": predictor.name,
        "heads": {h: [c.name for c in channels if c.head == h] for h in heads},
        "maps": list(paths.values()),
        "tiling": prediction.tiling.name,
        "device": str(predictor.device),
        "voxels": prediction.record.source_frame.n_voxels,
        **prediction.settings,
        **prediction.stats.to_dict(),
    }
    with open(os.path.join(outdir, "segment.json"), "w") as fh:
        json.dump(report, fh, indent=1)
    emit(args, report)


def _voxels(density: DensityMap | list[DensityMap], voxel_size: float) -> int:
    """Voxels of the prepared grid."""
    first = density if isinstance(density, DensityMap) else density[0]
    return first.frame.with_voxel_size(voxel_size).n_voxels
