"""Compare a built model with a reference: Cα recall, precision and F1, sequence match, TM-score.

Cα atoms are matched one to one within the cutoff (closest pairs first); sequence match is
the fraction of matched pairs with the same residue type; the TM-score (TM-align) pairs each
true chain with the predicted chain of the same name and is normalised by the true length.

Example usage:
  $ cryoray compare-models model.cif 5me2.pdb
  $ cryoray compare-models model.cif 5me2.cif.gz --cutoff 3 --json
"""

from __future__ import annotations

import argparse

from cryoray.cli.output import add_json_flag, emit
from cryoray.io.models import read_model
from cryoray.modelbuild import compare_models


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pred", help="built model (.pdb/.cif[.gz]), path or URL")
    parser.add_argument("true", help="reference model (.pdb/.cif[.gz]), path or URL")
    parser.add_argument("--cutoff", type=float, default=3.0, help="Cα match distance in Å (default 3)")
    add_json_flag(parser)


def main(args: argparse.Namespace) -> None:
    report = compare_models(read_model(args.pred), read_model(args.true), cutoff=args.cutoff)
    emit(args, {"pred": args.pred, "true": args.true, **report.to_dict()})
