"""Simulate a density map from an atomic model at a given resolution (all atoms, Gaussians).

Each atom adds C·Z·exp(−k·d²) with k = (π / (0.9·R))² and C = (k/π)^1.5 (CryoTEN eq. 1). With
--like the map is computed on that map's grid (shape, voxel size, origin), so it overlays it;
otherwise on a grid around the model.

Example usage:
  $ cryoray simulate 5me2.pdb -o 5me2_3A.mrc --resolution 3.0
  $ cryoray simulate 5me2.pdb -o 5me2_on_3488.mrc --resolution 3.2 --like emd_3488.map.gz
"""

from __future__ import annotations

import argparse
import math

from cryoray.cli.output import add_json_flag, emit
from cryoray.errors import ConfigError
from cryoray.io import check_output, read_map_header, write_map
from cryoray.io.models import read_model
from cryoray.io.mrc import MAX_VOXELS
from cryoray.labels.simulate import check_resolution, frame_around, simulate_map


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="atomic model (.pdb/.cif[.gz]), path or URL")
    parser.add_argument("-o", "--output", required=True, help="output .mrc (or .mrc.gz), path or URL")
    parser.add_argument("--resolution", type=float, required=True, help="resolution R in Å (0.5 to 50)")
    grid = parser.add_argument_group("Grid (default: around the model)")
    grid.add_argument("--like", help="map whose grid to compute on")
    grid.add_argument(
        "--voxel-size", type=float, default=1.0, help="voxel size in Å without --like (default: %(default)s)"
    )
    grid.add_argument("--padding", type=float, default=10.0, help="margin around the atoms in Å (default: %(default)s)")
    grid.add_argument(
        "--max-voxels",
        type=int,
        default=MAX_VOXELS,
        help="refuse grids (and --like maps) with more voxels, before allocating them (default: %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_json_flag(parser)


def main(args: argparse.Namespace) -> None:
    try:
        check_resolution(args.resolution)
    except ValueError as exc:
        raise ConfigError("--resolution", str(exc)) from None
    if not (math.isfinite(args.voxel_size) and args.voxel_size > 0):
        raise ConfigError("--voxel-size", f"must be positive and finite, got {args.voxel_size}")
    if not (math.isfinite(args.padding) and args.padding >= 0):
        raise ConfigError("--padding", f"must be >= 0 and finite, got {args.padding}")
    if args.max_voxels < 1:
        raise ConfigError("--max-voxels", f"must be positive, got {args.max_voxels}")
    check_output(args.output, overwrite=args.overwrite)
    atoms = read_model(args.model).atoms()
    if args.like:
        frame = read_map_header(args.like, max_voxels=args.max_voxels).frame
    else:
        frame = frame_around(atoms, args.voxel_size, args.padding, max_voxels=args.max_voxels, source=args.model)
    density = simulate_map(atoms, frame, args.resolution)
    write_map(args.output, density, overwrite=args.overwrite)
    emit(
        args, {"model": args.model, "output": args.output, "n_atoms": len(atoms), **frame.to_dict(), **density.stats()}
    )
