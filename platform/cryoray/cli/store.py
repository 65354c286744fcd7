"""Inspect a sub-grid store (version, entries, sub-grids, arrays, bytes, quarantine, splits) or upgrade a v1 one.

Example usage:
  $ cryoray store info dataset.zarr
  $ cryoray store info s3://bucket/dataset.zarr --json
  $ cryoray store info dataset.zarr --check
  $ cryoray store migrate old_dataset.zarr
"""

from __future__ import annotations

import argparse

from cryoray.cli.output import add_json_flag, emit
from cryoray.store import migrate_store, store_info


def add_args(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="summarise a store", description="Summarise a store.")
    info.add_argument("store", help="store path or URL")
    info.add_argument(
        "--check",
        action="store_true",
        help="also check every entry's attributes and arrays against the schema (about ten reads per entry; "
        "without it they are checked when training first reads them)",
    )
    add_json_flag(info)
    migrate = actions.add_parser(
        "migrate",
        help="upgrade a schema v1 store to the current schema in place",
        description="Check a schema v1 store in full, then upgrade it in place (entry data is not rewritten). "
        "v1 stores are readable as they are; ingest writes only into current ones.",
    )
    migrate.add_argument("store", help="store path or URL")
    add_json_flag(migrate)


def main(args: argparse.Namespace) -> None:
    if args.action == "migrate":
        emit(args, migrate_store(args.store))
        return
    report = store_info(args.store, check=args.check)
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
            **({"checked": "every entry's attributes and arrays match the schema"} if report["checked"] else {}),
        },
    )
