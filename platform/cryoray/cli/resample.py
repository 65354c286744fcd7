"""Resample a map to a voxel size, or onto the grid of another map (e.g. back to the original).

Example usage:
  $ cryoray resample emd_3488.map.gz -o emd_3488_1A.mrc --voxel-size 1.0
  $ cryoray resample prediction_1A.mrc -o prediction.mrc --like emd_3488.map.gz
"""

from __future__ import annotations

import argparse
import math

from cryoray.cli.output import add_json_flag, emit
from cryoray.errors import ConfigError
from cryoray.io import check_output, read_map, read_map_header, write_map
from cryoray.io.mrc import MAX_VOXELS
from cryoray.preprocessing.resample import INTERPOLATION_ORDERS, resample_onto, resampled_frame


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("map", help="input map, path or URL")
    parser.add_argument("-o", "--output", required=True, help="output .mrc (or .mrc.gz), path or URL")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--voxel-size", type=float, help="new voxel size in Å; voxel 0 stays in place")
    target.add_argument("--like", help="map whose grid (shape, voxel size, origin) to sample onto")
    parser.add_argument("--order", type=int, default=3, help="0 nearest, 1 linear, 3 cubic (default: %(default)s)")
    parser.add_argument(
        "--max-voxels",
        type=int,
        default=MAX_VOXELS,
        help="refuse input and output maps with more voxels, before allocating them (default: %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_json_flag(parser)


def main(args: argparse.Namespace) -> None:
    if args.order not in INTERPOLATION_ORDERS:
        raise ConfigError("--order", f"must be one of {INTERPOLATION_ORDERS}, got {args.order}")
    if args.voxel_size is not None and not (math.isfinite(args.voxel_size) and args.voxel_size > 0):
        raise ConfigError("--voxel-size", f"must be positive and finite, got {args.voxel_size}")
    if args.max_voxels < 1:
        raise ConfigError("--max-voxels", f"must be positive, got {args.max_voxels}")
    check_output(args.output, overwrite=args.overwrite)
    # The target grid is known from the headers alone: refuse it before reading any voxels.
    source_frame = read_map_header(args.map, max_voxels=args.max_voxels).frame
    if args.like is not None:
        frame = read_map_header(args.like, max_voxels=args.max_voxels).frame
    else:
        frame = resampled_frame(source_frame, args.voxel_size, max_voxels=args.max_voxels, source=args.map)
    density = read_map(args.map, max_voxels=args.max_voxels)
    out = resample_onto(density, frame, order=args.order, max_voxels=args.max_voxels, source=args.map)
    write_map(args.output, out, overwrite=args.overwrite)
    emit(args, {"input": args.map, "output": args.output, **out.frame.to_dict()})
