"""Options shared by commands: the Ray ones (train, tune, serve, predict-batch), and those making maps from models."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

from cryoray.cli.output import add_json_flag
from cryoray.errors import ConfigError
from cryoray.io.mrc import MAX_VOXELS

if TYPE_CHECKING:
    from cryoray.io.density_map import GridFrame
    from cryoray.io.models import AtomTable

__all__ = ["add_model_grid_args", "add_ray_args", "add_run_args", "check_model_grid_args", "model_grid"]


def add_ray_args(parser: argparse.ArgumentParser) -> None:
    """``--address`` and ``--num-cpus``: join a cluster, or size the local instance."""
    ray_group = parser.add_argument_group("Ray")
    ray_group.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local instance)")
    ray_group.add_argument("--num-cpus", type=int, help="CPUs of a local Ray instance (default: all)")


def add_run_args(
    parser: argparse.ArgumentParser, *, what: str, example_set: str, resume_help: str | None = None
) -> None:
    """``CONFIG``, ``--set KEY=VALUE``, ``--resume`` (when ``resume_help`` is given), the Ray
    options and ``--json``."""
    parser.add_argument("config", help=f"{what} config (YAML), path or URL")
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"change one setting, e.g. {example_set} (repeatable)",
    )
    if resume_help is not None:
        parser.add_argument("--resume", action="store_true", help=resume_help)
    add_ray_args(parser)
    add_json_flag(parser)


def add_model_grid_args(parser: argparse.ArgumentParser, *, voxel_size: bool = True) -> None:
    """The grid of a map made from a model: ``--like MAP``, else around the atoms (``--voxel-size``,
    ``--padding``); ``--max-voxels``."""
    grid = parser.add_argument_group("Grid (default: around the model)")
    grid.add_argument("--like", metavar="MAP", help="map whose grid (shape, voxel size, origin) to compute on")
    if voxel_size:
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


def check_model_grid_args(args: argparse.Namespace) -> None:
    """Refuse a bad ``--resolution`` and grid options (before any work starts), naming the option."""
    from cryoray.labels.simulate import check_resolution

    try:
        check_resolution(args.resolution)
    except ValueError as exc:
        raise ConfigError("--resolution", str(exc)) from None
    voxel_size = getattr(args, "voxel_size", 1.0)
    if not (math.isfinite(voxel_size) and voxel_size > 0):
        raise ConfigError("--voxel-size", f"must be positive and finite, got {voxel_size}")
    if not (math.isfinite(args.padding) and args.padding >= 0):
        raise ConfigError("--padding", f"must be >= 0 and finite, got {args.padding}")
    if args.max_voxels < 1:
        raise ConfigError("--max-voxels", f"must be positive, got {args.max_voxels}")


def model_grid(args: argparse.Namespace, atoms: AtomTable, source: object) -> GridFrame:
    """The ``--like`` map's grid, or one around ``atoms`` (options checked by :func:`check_model_grid_args`)."""
    from cryoray.io import read_map_header
    from cryoray.labels.simulate import frame_around

    if args.like:
        return read_map_header(args.like, max_voxels=args.max_voxels).frame
    voxel_size = getattr(args, "voxel_size", 1.0)
    return frame_around(atoms, voxel_size, args.padding, max_voxels=args.max_voxels, source=source)
