"""Prepare a map for the networks: resample to a voxel size, mask, normalise; keeps the frame.

The output keeps the input's origin (voxel 0 stays where it was) so it overlays the input in
ChimeraX; its header labels record what was done, and --json prints the full record.

Example usage:
  $ cryoray prepare emd_3488.map.gz -o emd_3488_1A.mrc
  $ cryoray prepare emd_3488.map.gz -o prepared.mrc --voxel-size 1.0 --percentile 99.999
  $ cryoray prepare emd_3488.map.gz -o prepared.mrc --mask-model 5me2.pdb --mask-radius 3
  $ cryoray prepare emd_3488.map.gz -o prepared.mrc --mask-map mask.mrc --contour 0.5 --json
"""

from __future__ import annotations

import argparse

from cryoray.cli.output import add_json_flag, emit
from cryoray.config import validate_config
from cryoray.io import read_map, write_map
from cryoray.preprocessing import PrepareConfig, prepare_map


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("map", help="input map, path or URL")
    parser.add_argument("-o", "--output", required=True, help="output .mrc (or .mrc.gz), path or URL")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    group = parser.add_argument_group("Preparation")
    group.add_argument("--voxel-size", type=float, default=1.0, help="target voxel size in Å (default: %(default)s)")
    group.add_argument("--order", type=int, default=3, help="interpolation: 0 nearest, 1 linear, 3 cubic (default: %(default)s)")
    group.add_argument(
        "--percentile", type=float, default=95.0, help="percentile of positive voxels mapped to 1 (default: %(default)s)"
    )
    group.add_argument("--no-normalize", dest="normalize", action="store_false", help="only resample (and mask)")
    masks = parser.add_argument_group("Mask (optional; density outside is set to 0)")
    masks.add_argument("--mask-map", help="mask map, any grid")
    masks.add_argument("--contour", type=float, help="mask-map level at or above which voxels are inside")
    masks.add_argument("--mask-model", help="model whose atoms define a zone mask")
    masks.add_argument("--mask-radius", type=float, default=3.0, help="zone radius in Å (default: %(default)s)")
    add_json_flag(parser)


def config_from_args(args: argparse.Namespace) -> PrepareConfig:
    mask = None
    if args.mask_map is not None or args.mask_model is not None:
        mask = {"map": args.mask_map, "contour": args.contour, "model": args.mask_model, "radius": args.mask_radius}
    settings = {
        "voxel_size": args.voxel_size,
        "order": args.order,
        "normalize": args.normalize,
        "percentile": args.percentile,
        "mask": mask,
    }
    return validate_config(PrepareConfig, settings, source="command-line options")


def main(args: argparse.Namespace) -> None:
    config = config_from_args(args)
    density = read_map(args.map)
    prepared, record = prepare_map(density, config, source=args.map)
    write_map(args.output, prepared, overwrite=args.overwrite)
    emit(args, {"input": args.map, "output": args.output, **record.to_dict()})
