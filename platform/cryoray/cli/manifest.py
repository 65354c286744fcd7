"""Write an ingest manifest from metadata: `manifest emdb` reads an EMDB mirror's XML headers.

`manifest emdb SOURCE -o MANIFEST.csv` reads the v3 header of every entry under SOURCE (an
EMDB archive mirror: local folder, s3:// or http(s)://, laid out as EMDB's
EMD-1234/{header,map,other}/) in parallel Ray tasks, and writes the columns
entry_id,map,model,sequence,resolution,method,half_map_1,half_map_2,released, which
`cryoray ingest` and `cryoray predict-batch` read. Over HTTP the entries are taken from the
server's directory index; --entries names them instead.

Models and sequences come from --pdb-mirror, laid out as the wwPDB archive's divided mmCIF
folder: mmCIF/me/5me2.cif.gz (the folder is the id's middle two characters), plus an optional
fasta/5me2.fasta (without one, ingest reads the model's entity sequences). The first fitted
model in the header that is on the mirror is taken.

Entries that fail a filter, whose header is unusable (not XML, DOCTYPE/entities, no
resolution) or whose files are missing are left out, each with its reason, in
MANIFEST.rejected.csv (entry_id,reason) and in --json. Exit 0; 1 when an entry hit a bug.

Example usage:
  $ cryoray manifest emdb https://ftp.ebi.ac.uk/pub/databases/emdb/structures -o emdb.csv \\
      --pdb-mirror https://files.wwpdb.org/pub/pdb/data/structures/divided \\
      --with-model --resolution-max 4 --method singleParticle --released-after 2020-01-01
  $ cryoray manifest emdb /data/emdb/structures -o half_maps.csv --with-half-maps --entries EMD-3488,EMD-8249
  $ cryoray manifest emdb s3://bucket/emdb -o s3://bucket/manifests/all.csv --json
"""

from __future__ import annotations

import argparse

from cryoray.cli.options import add_ray_args
from cryoray.cli.output import add_json_flag, emit
from cryoray.pipelines.emdb_manifest.header import METHODS

#: rejections listed one per line in the plain output (all of them are in the rejected file and --json)
SHOWN_REJECTIONS = 20


def add_args(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    emdb = actions.add_parser(
        "emdb",
        help="manifest of the entries of an EMDB mirror",
        description="Manifest of the entries of an EMDB mirror, from their v3 XML headers.",
        epilog=__doc__.partition("\n")[2].strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    emdb.add_argument("source", help="root of the EMDB mirror (holding EMD-*/): folder, s3:// or http(s):// URL")
    emdb.add_argument("-o", "--output", required=True, help="manifest CSV to write (path or URL)")
    emdb.add_argument("--pdb-mirror", help="root of the PDB mirror (holding mmCIF/ and optionally fasta/)")
    emdb.add_argument("--resolution-min", type=float, metavar="R", help="keep entries at R Å or worse")
    emdb.add_argument("--resolution-max", type=float, metavar="R", help="keep entries at R Å or better")
    emdb.add_argument(
        "--method",
        nargs="+",
        choices=METHODS,
        metavar="METHOD",
        help=f"keep entries of these methods: {', '.join(METHODS)}",
    )
    emdb.add_argument("--with-model", action="store_true", help="keep entries whose fitted model is on the PDB mirror")
    emdb.add_argument("--with-half-maps", action="store_true", help="keep entries with both half maps")
    emdb.add_argument("--released-after", metavar="YYYY-MM-DD", help="keep maps released on or after this date")
    emdb.add_argument("--entries", metavar="EMD-1234,...", help="check these entries instead of listing SOURCE")
    add_ray_args(emdb)
    add_json_flag(emdb)


def _emdb(args: argparse.Namespace) -> int:
    from cryoray.config import validate_config
    from cryoray.pipelines.emdb_manifest.entries import EmdbFilters
    from cryoray.pipelines.emdb_manifest.run import run_emdb_manifest

    options = {
        "resolution_min": args.resolution_min,
        "resolution_max": args.resolution_max,
        "methods": args.method,
        "with_model": args.with_model,
        "with_half_maps": args.with_half_maps,
        "released_after": args.released_after,
    }
    filters = validate_config(EmdbFilters, options, source="manifest emdb options")
    entries = None if args.entries is None else [e for e in args.entries.split(",") if e.strip()]
    report = run_emdb_manifest(
        args.source,
        args.output,
        filters,
        pdb_mirror=args.pdb_mirror,
        entries=entries,
        address=args.address,
        num_cpus=args.num_cpus,
        progress=not args.quiet,
    )
    if args.json:
        emit(args, report)
    else:
        rejected = report["rejected"]
        lines = {k: report[k] for k in ("source", "manifest", "rejected_file")}
        lines |= {
            "entries": report["n_entries"],
            "kept": f"{report['n_kept']} ({report['n_with_model']} with a model, "
            f"{report['n_with_half_maps']} with half maps)",
            "rejected": report["n_rejected"],
        }
        lines |= {f"  {r['entry_id']}": r["reason"] for r in rejected[:SHOWN_REJECTIONS]}  # type: ignore[index]
        if len(rejected) > SHOWN_REJECTIONS:  # type: ignore[arg-type]
            lines["  ..."] = f"{len(rejected) - SHOWN_REJECTIONS} more in {report['rejected_file']}"  # type: ignore[arg-type]
        lines["seconds"] = report["seconds"]
        emit(args, lines)
    return 1 if report["n_internal_errors"] else 0


def main(args: argparse.Namespace) -> int:
    if args.action == "emdb":
        return _emdb(args)
    raise AssertionError(f"unknown action {args.action}")  # argparse allows only the actions above
