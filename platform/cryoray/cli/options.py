"""Options shared by the commands that run on Ray (train, tune, serve, predict-batch)."""

from __future__ import annotations

import argparse

from cryoray.cli.output import add_json_flag

__all__ = ["add_ray_args", "add_run_args"]


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
