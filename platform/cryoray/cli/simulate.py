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

from cryoray.cli.options import add_model_grid_args, check_model_grid_args, model_grid
from cryoray.cli.output import add_json_flag, emit
from cryoray.io import check_output, write_map
from cryoray.io.models import read_model
from cryoray.labels.simulate import simulate_map


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="atomic model (.pdb/.cif[.gz]), path or URL")
    parser.add_argument("-o", "--output", required=True, help="output .mrc (or .mrc.gz), path or URL")
    parser.add_argument("--resolution", type=float, required=True, help="resolution R in Å (0.5 to 50)")
    add_model_grid_args(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_json_flag(parser)


def main(args: argparse.Namespace) -> None:
    check_model_grid_args(args)
    check_output(args.output, overwrite=args.overwrite)
    atoms = read_model(args.model).atoms()
    frame = model_grid(args, atoms, args.model)
    density = simulate_map(atoms, frame, args.resolution)
    write_map(args.output, density, overwrite=args.overwrite)
    emit(
        args, {"model": args.model, "output": args.output, "n_atoms": len(atoms), **frame.to_dict(), **density.stats()}
    )
