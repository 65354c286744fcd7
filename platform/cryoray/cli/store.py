"""Inspect a sub-grid store: schema version, entries, sub-grids, arrays, bytes, quarantine, splits.

Example usage:
  $ cryoray store info dataset.zarr
  $ cryoray store info s3://bucket/dataset.zarr --json
"""

from __future__ import annotations

import argparse

from cryoray.cli.output import add_json_flag, emit
from cryoray.store import store_info


def add_args(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="summarise a store", description="Summarise a store.")
    info.add_argument("store", help="store path or URL")
    add_json_flag(info)


def main(args: argparse.Namespace) -> None:
    report = store_info(args.store)
    if args.json:
        emit(args, report)
        return
    arrays = {name: f"{a['dtype']} {a['shape']} chunks {a['chunks']}" for name, a in report["arrays"].items()}
    quarantine = [f"{q['entry_id']} ({q['error']}: {q['reason']})" for q in report["quarantine"]]
    splits = report["splits"] or {}
    emit(
        args,
        {
            "store": report["store"],
            "schema_version": report["schema_version"],
            "entries": report["n_entries"],
            "sub-grids": report["n_subgrids"],
            "tiling": report["tiling"],
            **{f"array {k}": v for k, v in arrays.items()},
            "bytes on disk": report["bytes_on_disk"],
            "quarantine": "; ".join(quarantine) or "none",
            **{f"split {k}": len(v) for k, v in splits.items()},
        },
    )
