"""Local resolution from two half maps: the FSC in a soft-edged box around each voxel (blocres-like).

Writes the resolution in Å per voxel on the half maps' grid (0 outside the mask) to -o, and
beside it OUT_histogram.png (the resolutions inside the mask) and OUT_slices.png (three
sections through the mask, the halves' average in grey, the resolution in colour). Boxes of
--box voxels are measured every --stride voxels near the mask and interpolated in between.
--mask (values in [0, 1], any grid; voxels at or above 0.5 are measured) is strongly advised:
without it the whole box is measured. With the default FSC threshold 0.5 an estimate lies
within about one shell (1 / (box x voxel size)) of the true cutoff, on the finer side.

Example usage:
  $ cryoray local-resolution half1.mrc half2.mrc -o locres.mrc --mask mask.mrc
  $ cryoray local-resolution half1.mrc half2.mrc -o locres.mrc --mask mask.mrc --box 32 --threshold 0.143 --json
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time

from cryoray.cli.output import add_json_flag, emit
from cryoray.errors import ConfigError, MapValueError
from cryoray.io import check_output, read_map, write_map
from cryoray.io.atomic import replace_into_place
from cryoray.io.mrc import MAX_VOXELS


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("half1", help="first half map, path or URL")
    parser.add_argument("half2", help="second half map on the same grid, path or URL")
    parser.add_argument("-o", "--output", required=True, help="output .mrc (or .mrc.gz), a local path")
    parser.add_argument("--mask", help="mask map (values in [0, 1], any grid): voxels at or above 0.5 are measured")
    parser.add_argument("--box", type=int, default=24, help="box edge in voxels, at least 8 (default: %(default)s)")
    parser.add_argument("--stride", type=int, help="voxels between measured boxes (default: box // 4)")
    parser.add_argument(
        "--threshold", type=float, default=0.5, help="FSC threshold: 0.5 or 0.143 (default: %(default)s)"
    )
    parser.add_argument("--threads", type=int, default=1, help="threads for the FFTs (default: %(default)s)")
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
    # Imported here: scipy and matplotlib load only when this command runs.
    from cryoray.metrics.local_resolution import local_resolution
    from cryoray.preprocessing.masks import contour_mask
    from cryoray.viz.local_resolution import save_resolution_histogram, save_resolution_slices

    if not 0 < args.threshold < 1:
        raise ConfigError("--threshold", f"must be within (0, 1) (0.5 or 0.143), got {args.threshold}")
    if args.threads < 1:
        raise ConfigError("--threads", f"must be positive, got {args.threads}")
    if args.max_voxels < 1:
        raise ConfigError("--max-voxels", f"must be positive, got {args.max_voxels}")
    if "://" in args.output:
        raise ConfigError("--output", f"{args.output}: must be a local path (pictures are written beside it)")
    pictures = picture_paths(args.output)
    for path in (args.output, *pictures):
        check_output(path, overwrite=args.overwrite)
    halves = [read_map(path, max_voxels=args.max_voxels) for path in (args.half1, args.half2)]
    mask = None
    if args.mask:
        mask_map = read_map(args.mask, max_voxels=args.max_voxels)
        if mask_map.data.min() < 0 or mask_map.data.max() > 1:
            raise MapValueError(args.mask, "mask values must be within [0, 1] (a mask map, not a density map)")
        mask = contour_mask(mask_map, 0.5, halves[0].frame, source=args.mask, max_voxels=args.max_voxels)
    started = time.perf_counter()
    try:
        result = local_resolution(
            *halves,
            mask=mask,
            box=args.box,
            stride=args.stride,
            threshold=args.threshold,
            workers=args.threads,
            progress=not args.quiet,
            source=args.half2,
        )
    except ConfigError as exc:  # name the option as typed
        raise ConfigError(f"--{exc.source}", exc.reason) from exc
    seconds = time.perf_counter() - started
    stats = result.percentiles((5, 25, 50, 75, 95))
    average = halves[0].with_data((halves[0].data + halves[1].data) / 2)
    title = f"{os.path.basename(args.output)}: box {result.box}, FSC {result.threshold:g}"
    marked = {"median": stats["p50"], "p5": stats["p5"], "p95": stats["p95"]}
    _save_atomically(
        pictures[0],
        lambda tmp: save_resolution_histogram(tmp, result.map.data[result.mask], percentiles=marked, title=title),
    )
    _save_atomically(pictures[1], lambda tmp: save_resolution_slices(tmp, average, result.map, title=title))
    write_map(args.output, result.map, overwrite=args.overwrite)
    emit(
        args,
        {
            "output": args.output,
            "pictures": list(pictures),
            "unit": "Å",
            "median": round(stats["p50"], 3),
            **{key: round(stats[key], 3) for key in ("p5", "p25", "p75", "p95")},
            "best_possible": round(result.best, 3),
            "worst_possible": round(result.worst, 3),
            "box": result.box,
            "stride": result.stride,
            "threshold": result.threshold,
            "n_voxels": int(result.mask.sum()),
            "n_boxes": result.n_boxes,
            "seconds": round(seconds, 2),
        },
    )
