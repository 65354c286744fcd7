"""Printing command results: JSON with ``--json``, aligned ``key: value`` lines otherwise."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping

__all__ = ["add_json_flag", "emit"]


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def _plain(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return " ".join(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_plain(v)}" for k, v in value.items())
    return str(value)


def emit(args: argparse.Namespace, result: Mapping[str, object]) -> None:
    """Print ``result`` in the form the user asked for."""
    if args.json:
        print(json.dumps(result, indent=2))
        return
    width = max((len(k) for k in result), default=0)
    for key, value in result.items():
        print(f"{key:<{width}}  {_plain(value)}")
