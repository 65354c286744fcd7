"""Simulate a density map from an atomic model at a given resolution (all atoms, Gaussians).

Each atom adds C·Z·exp(−k·d²) with k = (π / (0.9·R))² and C = (k/π)^1.5 (CryoTEN eq. 1). With
--like the map is computed on that map's grid (shape, voxel size, origin), so it overlays it;
otherwise on a grid around the model. --noise K adds Gaussian noise low-passed at R, with K times
the molecule's standard deviation: a training map made from a model that has no map.

Example usage:
  $ cryoray simulate 5me2.pdb -o 5me2_3A.mrc --resolution 3.0
  $ cryoray simulate 5me2.pdb -o 5me2_on_3488.mrc --resolution 3.2 --like emd_3488.map.gz
  $ cryoray simulate 1wcm.pdb -o 1wcm_noisy.mrc --resolution 3.4 --noise 1.5 --seed 1
"""

from __future__ import annotations

import argparse
import math

from cryoray.cli.options import add_model_grid_args, check_model_grid_args, model_grid
from cryoray.cli.output import add_json_flag, emit
from cryoray.errors import ConfigError
from cryoray.io import check_output, write_map
from cryoray.io.models import read_model
from cryoray.labels.simulate import add_noise, simulate_map


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="atomic model (.pdb/.cif[.gz]), path or URL")
    parser.add_argument("-o", "--output", required=True, help="output .mrc (or .mrc.gz), path or URL")
    parser.add_argument("--resolution", type=float, required=True, help="resolution R in Å (0.5 to 50)")
    parser.add_argument(
        "--noise",
        type=float,
        default=0.0,
        metavar="K",
        help="add noise low-passed at R with K x the molecule's standard deviation (default: 0, none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of the noise (default: 0)")
    add_model_grid_args(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_json_flag(parser)


def main(args: argparse.Namespace) -> None:
    check_model_grid_args(args)
    if not (math.isfinite(args.noise) and args.noise >= 0):
        raise ConfigError("--noise", f"must be >= 0 and finite, got {args.noise}")
    check_output(args.output, overwrite=args.overwrite)
    atoms = read_model(args.model).atoms()
    frame = model_grid(args, atoms, args.model)
    density = simulate_map(atoms, frame, args.resolution)
    if args.noise:
        density = add_noise(density, args.noise, args.resolution, seed=args.seed)
    write_map(args.output, density, overwrite=args.overwrite)
    emit(
        args, {"model": args.model, "output": args.output, "n_atoms": len(atoms), **frame.to_dict(), **density.stats()}
    )
