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

from cryoray.cli.output import add_json_flag, emit
from cryoray.errors import ConfigError
from cryoray.io import check_output, read_map_header, write_map
from cryoray.io.models import read_model
from cryoray.labels.simulate import frame_around, simulate_map


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="atomic model (.pdb/.cif[.gz]), path or URL")
    parser.add_argument("-o", "--output", required=True, help="output .mrc (or .mrc.gz), path or URL")
    parser.add_argument("--resolution", type=float, required=True, help="resolution R in Å")
    grid = parser.add_argument_group("Grid (default: around the model)")
    grid.add_argument("--like", help="map whose grid to compute on")
    grid.add_argument(
        "--voxel-size", type=float, default=1.0, help="voxel size in Å without --like (default: %(default)s)"
    )
    grid.add_argument("--padding", type=float, default=10.0, help="margin around the atoms in Å (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_json_flag(parser)


def main(args: argparse.Namespace) -> None:
    for name in ("resolution", "voxel_size"):
        if not getattr(args, name) > 0:
            raise ConfigError(f"--{name.replace('_', '-')}", f"must be positive, got {getattr(args, name)}")
    if args.padding < 0:
        raise ConfigError("--padding", f"must be >= 0, got {args.padding}")
    check_output(args.output, overwrite=args.overwrite)
    atoms = read_model(args.model).atoms()
    frame = read_map_header(args.like).frame if args.like else frame_around(atoms, args.voxel_size, args.padding)
    density = simulate_map(atoms, frame, args.resolution)
    write_map(args.output, density, overwrite=args.overwrite)
    emit(
        args, {"model": args.model, "output": args.output, "n_atoms": len(atoms), **frame.to_dict(), **density.stats()}
    )
