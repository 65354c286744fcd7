"""Thread sequences through Cα states (STATES.npz + FASTA) into a Cα model (mmCIF or PDB).

STATES.npz holds xyz (K×3, Å), aa_probs (K×20, order A R N D C Q E G H I L K M F P S T W Y V)
and ca_prob (K). Chains are named by the FASTA headers and threaded in file order; each state
is used at most once. The model's B-factor is 100 × the state's Cα probability, its occupancy
the probability of the residue's amino acid. Residues left without a state (fewer states than
residues) are reported, never invented.

Example usage:
  $ cryoray align states.npz 5me2.fasta -o model.cif
  $ cryoray align states.npz 5me2.fasta -o model.pdb --std-lambda 10 --json
  $ cryoray align big_states.npz complex.fasta -o model.cif --max-memory-gib 32
"""

from __future__ import annotations

import argparse

from cryoray.cli.output import add_json_flag, emit
from cryoray.config import validate_config
from cryoray.io import check_output
from cryoray.modelbuild import read_chains, read_states, thread_chains, write_model
from cryoray.modelbuild.config import ThreadingConfig

_SUMMARY = (
    "states",
    "chains",
    "residues",
    "placed",
    "unplaced",
    "reused_states",
    "log_score",
    "upper_bound",
    "gap",
    "seconds",
)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("states", help="states .npz (xyz, aa_probs, ca_prob), path or URL")
    parser.add_argument("sequence", help="FASTA file whose headers name the chains, path or URL")
    parser.add_argument("-o", "--output", required=True, help="model to write: .cif or .pdb (optionally .gz)")
    parser.add_argument(
        "--std-lambda", type=float, default=None, help="λ of the transition σ = 0.03622304 × λ Å (default 10)"
    )
    parser.add_argument(
        "--max-memory-gib",
        type=float,
        default=None,
        help="refuse inputs whose threading would need more memory, estimated from the sizes "
        f"(default: {ThreadingConfig.model_fields['max_memory_gib'].default:g})",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_json_flag(parser)


def main(args: argparse.Namespace) -> None:
    flags = {"std_lambda": args.std_lambda, "max_memory_gib": args.max_memory_gib}
    settings = {key: value for key, value in flags.items() if value is not None}
    config = validate_config(ThreadingConfig, settings, source="command-line options")
    check_output(args.output, overwrite=args.overwrite)
    states = read_states(args.states)
    chains = read_chains(args.sequence)
    result = thread_chains(states, chains, config, source=args.states)
    write_model(args.output, result, overwrite=args.overwrite)
    report = result.to_dict()
    if not args.json:
        report = {key: report[key] for key in _SUMMARY} | {"notes": "; ".join(report["notes"]) or "-"}
    emit(args, {"model": args.output, **report})
