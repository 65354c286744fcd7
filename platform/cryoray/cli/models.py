"""List the model families: each network's seed tool, heads, parameters at its default size, and commands.

One row per registered network, grouped by family (the published tool it follows). Parameters
are counted on a build at the config's defaults, the published sizes where a paper states them;
heads are the network's outputs with their channels. Networks registered without a family
entry are listed under their own name.

Example usage:
  $ cryoray models
  $ cryoray models --json
"""

from __future__ import annotations

import argparse
import json

from cryoray.cli.output import add_json_flag


def add_args(parser: argparse.ArgumentParser) -> None:
    add_json_flag(parser)


def _heads(heads: dict[str, int] | None) -> str:
    return "?" if heads is None else " ".join(f"{name}({channels})" for name, channels in heads.items())


def _count(parameters: int | None) -> str:
    return "?" if parameters is None else f"{parameters / 1e6:.2f} M"


def main(args: argparse.Namespace) -> None:
    from cryoray.models.families import catalogue  # imports torch

    families = catalogue()
    if args.json:
        print(json.dumps(families, indent=2))
        return
    rows = [("family", "network", "seed tool", "heads", "parameters", "commands")]
    for family in families:
        for network in family["networks"]:
            rows.append(
                (
                    family["family"],
                    network["network"],
                    family["seed"],
                    _heads(network["heads"]),
                    _count(network["parameters"]),
                    ", ".join(network["commands"]),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
