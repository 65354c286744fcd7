"""Check that a model and a map are placed together (CA atoms inside the box, on density).

Reports n_ca, fraction_inside (CA atoms inside the map's box) and mean_sigma_at_ca (mean
value at the voxels nearest the CA atoms, in σ of the whole map above its mean). A model
placed in its map typically gives several σ; a shifted or foreign one gives ~0.

Example usage:
  $ cryoray fit emd_3488.map.gz 5me2.pdb
  $ cryoray fit emd_3488.map.gz 5me2.cif.gz --json
"""

from __future__ import annotations

import argparse

from cryoray.cli.output import add_json_flag, emit
from cryoray.io import read_map
from cryoray.io.models import read_model
from cryoray.metrics import fit_check


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("map", help="map, path or URL")
    parser.add_argument("model", help="atomic model (.pdb/.cif[.gz]), path or URL")
    add_json_flag(parser)


def main(args: argparse.Namespace) -> None:
    density = read_map(args.map)
    model = read_model(args.model)
    report = fit_check(density, model, source=args.map)
    emit(args, {"map": args.map, "model": args.model, **report.to_dict()})
