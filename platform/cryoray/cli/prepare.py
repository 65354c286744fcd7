"""Prepare a map for the networks: resample to a voxel size, mask, normalise; keeps the frame.

The output keeps the input's origin (voxel 0 stays where it was) so it overlays the input in
ChimeraX; its header labels record what was done, and --json prints the full record.

Example usage:
  $ cryoray prepare emd_3488.map.gz -o emd_3488_1A.mrc
  $ cryoray prepare emd_3488.map.gz -o prepared.mrc --voxel-size 1.0 --percentile 99.999
  $ cryoray prepare emd_3488.map.gz -o prepared.mrc --mask-model 5me2.pdb --mask-radius 3
  $ cryoray prepare emd_3488.map.gz -o prepared.mrc --mask-map mask.mrc --contour 0.5 --json
  $ cryoray prepare emd_3488.map.gz -o prepared.mrc --config run.yaml --percentile 99
  $ cryoray prepare big.map -o prepared.mrc --voxel-size 0.5 --max-voxels 4000000000
"""

from __future__ import annotations

import argparse

from cryoray.cli.output import add_json_flag, emit
from cryoray.config import config_with_overrides
from cryoray.io import check_output, read_map, read_map_header, write_map
from cryoray.preprocessing import MaskConfig, PrepareConfig, prepare_map
from cryoray.preprocessing.config import MAX_MASK_RADIUS
from cryoray.preprocessing.resample import resampled_frame


def _default(name: str) -> object:
    return PrepareConfig.model_fields[name].default


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("map", help="input map, path or URL")
    parser.add_argument("-o", "--output", required=True, help="output .mrc (or .mrc.gz), path or URL")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--config", help="YAML file whose `prepare:` section holds the settings; flags override it")
    group = parser.add_argument_group("Preparation")
    group.add_argument("--voxel-size", type=float, help=f"target voxel size in Å (default: {_default('voxel_size')})")
    group.add_argument(
        "--order", type=int, help=f"interpolation: 0 nearest, 1 linear, 3 cubic (default: {_default('order')})"
    )
    group.add_argument(
        "--percentile",
        type=float,
        help=f"percentile of positive voxels mapped to 1 (default: {_default('percentile')})",
    )
    group.add_argument(
        "--no-normalize", dest="normalize", action="store_const", const=False, help="only resample (and mask)"
    )
    group.add_argument(
        "--max-voxels",
        type=int,
        help=f"refuse input and resampled maps with more voxels (default: {_default('max_voxels')})",
    )
    masks = parser.add_argument_group("Mask (optional; density outside is set to 0)")
    masks.add_argument("--mask-map", help="mask map, any grid")
    masks.add_argument("--contour", type=float, help="mask-map level at or above which voxels are inside")
    masks.add_argument("--mask-model", help="model whose atoms define a zone mask")
    radius = MaskConfig.model_fields["radius"].default
    masks.add_argument(
        "--mask-radius", type=float, help=f"zone radius in Å, at most {MAX_MASK_RADIUS:g} (default: {radius})"
    )
    add_json_flag(parser)


def config_from_args(args: argparse.Namespace) -> PrepareConfig:
    """Settings from --config (if any) with the flags that were given on top, validated."""
    flags = {
        "voxel_size": args.voxel_size,
        "order": args.order,
        "normalize": args.normalize,
        "percentile": args.percentile,
        "max_voxels": args.max_voxels,
    }
    mask_flags = {"map": args.mask_map, "contour": args.contour, "model": args.mask_model, "radius": args.mask_radius}
    if any(v is not None for v in mask_flags.values()):
        flags["mask"] = {k: v for k, v in mask_flags.items() if v is not None}
    return config_with_overrides(PrepareConfig, args.config, "prepare", flags)


def main(args: argparse.Namespace) -> None:
    config = config_from_args(args)
    check_output(args.output, overwrite=args.overwrite)
    # Refuse an oversized resampled grid from the header alone, before reading any voxels.
    header = read_map_header(args.map, max_voxels=config.max_voxels)
    resampled_frame(header.frame, config.voxel_size, max_voxels=config.max_voxels, source=args.map)
    density = read_map(args.map, max_voxels=config.max_voxels)
    prepared, record = prepare_map(density, config, source=args.map)
    write_map(args.output, prepared, overwrite=args.overwrite)
    emit(args, {"input": args.map, "output": args.output, **record.to_dict()})
