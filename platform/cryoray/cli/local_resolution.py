"""Local resolution from two half maps (the FSC in a soft-edged box, blocres-like) or from one map (CryoRes).

Writes the resolution in Å per voxel on the input's grid (0 outside the mask) to -o, and
beside it OUT_histogram.png (the resolutions inside the mask) and OUT_slices.png (three
sections through the mask, the map in grey, the resolution in colour).

Two half maps: boxes of --box voxels (default 24) are measured every --stride voxels near the
mask and interpolated in between. --mask (values in [0, 1], any grid; voxels at or above 0.5 are
measured) is strongly advised: without it the whole box is measured. With the default FSC
threshold 0.5 an estimate lies within about one shell (1 / (box x voxel size)) of the true cutoff,
on the finer side.

One map with --model REF (a CryoRes bundle): the network predicts the global resolution, the
relative local resolution and a molecular mask box by box (the bundle's grid, normalisation and
tiling; --box/--stride replace its tiling); the output is global + relative where the mask's
probability is at least --mask-threshold, 0 elsewhere. No half maps and no mask needed.

Example usage:
  $ cryoray local-resolution half1.mrc half2.mrc -o locres.mrc --mask mask.mrc
  $ cryoray local-resolution half1.mrc half2.mrc -o locres.mrc --mask mask.mrc --box 32 --threshold 0.143 --json
  $ cryoray local-resolution emd_3488.map -o locres.mrc --model models/cryores --json
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time

import numpy as np

from cryoray.cli.output import add_json_flag, emit
from cryoray.config import validate_config
from cryoray.errors import ConfigError, MapValueError
from cryoray.infer.config import InferConfig
from cryoray.infer.reference import resolve_reference
from cryoray.io import DensityMap, check_output, read_map, write_map
from cryoray.io.atomic import replace_into_place
from cryoray.io.mrc import MAX_VOXELS

#: the half-map estimator's box and FSC threshold when none is given
HALVES_BOX = 24
HALVES_THRESHOLD = 0.5


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("maps", nargs="+", metavar="MAP", help="two half maps, or one map with --model; path or URL")
    parser.add_argument("-o", "--output", required=True, help="output .mrc (or .mrc.gz), a local path")
    parser.add_argument(
        "--box", type=int, help=f"box edge in voxels (default: {HALVES_BOX}, at least 8; with --model the bundle's)"
    )
    parser.add_argument(
        "--stride", type=int, help="voxels between boxes (default: box // 4; with --model the bundle's)"
    )
    halves = parser.add_argument_group("Two half maps")
    halves.add_argument("--mask", help="mask map (values in [0, 1], any grid): voxels at or above 0.5 are measured")
    halves.add_argument("--threshold", type=float, help=f"FSC threshold: 0.5 or 0.143 (default: {HALVES_THRESHOLD})")
    halves.add_argument("--threads", type=int, default=1, help="threads for the FFTs (default: %(default)s)")
    model = parser.add_argument_group("One map (CryoRes network)")
    model.add_argument("--model", metavar="REF", help="CryoRes model bundle, or MLflow registered model")
    model.add_argument("--tracking-uri", help="MLflow tracking URI for registered models")
    model.add_argument("--cache-dir", help="where registered models are downloaded (default: ~/.cache/cryoray/models)")
    model.add_argument(
        "--mask-threshold", type=float, default=0.5, help="molecule probability of the mask (default: %(default)s)"
    )
    model.add_argument("--batch-size", type=int, help="boxes per forward pass")
    model.add_argument("--device", choices=("auto", "cpu", "cuda"), help="auto: CUDA when available (default: auto)")
    parser.add_argument(
        "--max-voxels",
        type=int,
        default=MAX_VOXELS,
        help="refuse larger maps before reading them (default: %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_json_flag(parser)


def picture_paths(output: str) -> tuple[str, str]:
    """The histogram and slice pictures written beside ``output`` (``locres.mrc`` -> ``locres_histogram.png``, …)."""
    stem = re.sub(r"(\.mrc|\.map|\.ccp4)?(\.gz)?$", "", output, flags=re.IGNORECASE)
    return f"{stem}_histogram.png", f"{stem}_slices.png"


def _save_atomically(path: str, save) -> None:
    """``save(tmp)`` into a temporary file beside ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=".cryoray-", suffix=".png", dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    try:
        save(tmp)
        replace_into_place(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(args: argparse.Namespace) -> None:
    # Imported here: scipy, matplotlib (and torch with --model) load only when this command runs.
    from cryoray.viz.local_resolution import save_resolution_histogram, save_resolution_slices

    if args.max_voxels < 1:
        raise ConfigError("--max-voxels", f"must be positive, got {args.max_voxels}")
    if "://" in args.output:
        raise ConfigError("--output", f"{args.output}: must be a local path (pictures are written beside it)")
    if len(args.maps) != (1 if args.model else 2):
        wanted = "one MAP with --model" if args.model else "two half maps (or one MAP with --model REF)"
        raise ConfigError("command line", f"give {wanted}, got {len(args.maps)} maps")
    pictures = picture_paths(args.output)
    for path in (args.output, *pictures):
        check_output(path, overwrite=args.overwrite)
    started = time.perf_counter()
    density, resolution, inside, details = (_from_model if args.model else _from_halves)(args)
    seconds = time.perf_counter() - started
    values = resolution.data[inside]
    if not values.size or not (values > 0).any():
        raise MapValueError(args.maps[0], "no voxel with a positive resolution inside the mask; nothing written")
    stats = dict(zip(("p5", "p25", "p50", "p75", "p95"), np.percentile(values, (5, 25, 50, 75, 95)), strict=True))
    title = f"{os.path.basename(args.output)}: {details.pop('title')}"
    marked = {"median": stats["p50"], "p5": stats["p5"], "p95": stats["p95"]}
    _save_atomically(pictures[0], lambda tmp: save_resolution_histogram(tmp, values, percentiles=marked, title=title))
    _save_atomically(pictures[1], lambda tmp: save_resolution_slices(tmp, density, resolution, title=title))
    write_map(args.output, resolution, overwrite=args.overwrite)
    emit(
        args,
        {
            "output": args.output,
            "pictures": list(pictures),
            "unit": "Å",
            "median": round(float(stats["p50"]), 3),
            **{key: round(float(stats[key]), 3) for key in ("p5", "p25", "p75", "p95")},
            **details,
            "n_voxels": int(inside.sum()),
            "seconds": round(seconds, 2),
        },
    )


def _from_halves(args: argparse.Namespace) -> tuple[DensityMap, DensityMap, np.ndarray, dict[str, object]]:
    """The FSC estimate: the halves' average, the resolution, the measured voxels and the report's details."""
    from cryoray.metrics.local_resolution import local_resolution
    from cryoray.preprocessing.masks import contour_mask

    threshold = HALVES_THRESHOLD if args.threshold is None else args.threshold
    if not 0 < threshold < 1:
        raise ConfigError("--threshold", f"must be within (0, 1) (0.5 or 0.143), got {threshold}")
    if args.threads < 1:
        raise ConfigError("--threads", f"must be positive, got {args.threads}")
    halves = [read_map(path, max_voxels=args.max_voxels) for path in args.maps]
    mask = None
    if args.mask:
        mask_map = read_map(args.mask, max_voxels=args.max_voxels)
        if mask_map.data.min() < 0 or mask_map.data.max() > 1:
            raise MapValueError(args.mask, "mask values must be within [0, 1] (a mask map, not a density map)")
        mask = contour_mask(mask_map, 0.5, halves[0].frame, source=args.mask, max_voxels=args.max_voxels)
    try:
        result = local_resolution(
            *halves,
            mask=mask,
            box=HALVES_BOX if args.box is None else args.box,
            stride=args.stride,
            threshold=threshold,
            workers=args.threads,
            progress=not args.quiet,
            source=args.maps[1],
        )
    except ConfigError as exc:  # name the option as typed
        raise ConfigError(f"--{exc.source}", exc.reason) from exc
    average = halves[0].with_data((halves[0].data + halves[1].data) / 2)
    details = {
        "title": f"box {result.box}, FSC {result.threshold:g}",
        "best_possible": round(result.best, 3),
        "worst_possible": round(result.worst, 3),
        "box": result.box,
        "stride": result.stride,
        "threshold": result.threshold,
        "n_boxes": result.n_boxes,
    }
    return average, result.map, result.mask, details


def _from_model(args: argparse.Namespace) -> tuple[DensityMap, DensityMap, np.ndarray, dict[str, object]]:
    """CryoRes's prediction: the map, the resolution, the predicted mask and the report's details."""
    given = {"box": args.box, "stride": args.stride, "batch_size": args.batch_size, "device": args.device}
    if args.threshold is not None or args.mask is not None:
        raise ConfigError("--threshold/--mask", "apply to two half maps; with --model the network predicts the mask")
    if not 0 < args.mask_threshold <= 1:
        raise ConfigError("--mask-threshold", f"must be within (0, 1], got {args.mask_threshold}")
    config = validate_config(
        InferConfig, {k: v for k, v in given.items() if v is not None}, source="command-line options"
    )
    directory = resolve_reference(args.model, tracking_uri=args.tracking_uri, cache_dir=args.cache_dir)
    density = read_map(args.maps[0], max_voxels=args.max_voxels)

    from cryoray.infer.local_resolution import predict_local_resolution
    from cryoray.infer.predictor import Predictor

    predictor = Predictor.from_checkpoint(directory, device=config.device, precision=config.precision)
    predictor.name = args.model
    resolution, prediction = predict_local_resolution(
        density, predictor, config, threshold=args.mask_threshold, source=args.maps[0]
    )
    inside = resolution.data != 0
    details = {
        "title": f"CryoRes {args.model}",
        "model": args.model,
        "mask_threshold": args.mask_threshold,
        "tiling": prediction.tiling.name,
        "box": prediction.tiling.box,
        "stride": prediction.tiling.stride,
        **prediction.settings,
    }
    return density, resolution, inside, details
