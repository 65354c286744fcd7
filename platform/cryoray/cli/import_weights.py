"""Import a published tool's checkpoint (CryoTEN, Cryo2Struct) as a model bundle every command loads.

SRC is the tool's PyTorch Lightning checkpoint: CryoTEN's cryoten.ckpt, Cryo2Struct's
atom_type.ckpt (--format cryo2struct-atom) or amino_acid_type.ckpt (--format cryo2struct-amino).
It is read without pickle (torch.load(weights_only=True); a checkpoint that needs any other
object is refused); the network's settings come from its hyper-parameters or, where absent, its
tensor shapes; the weights load strictly. The bundle (model.safetensors + bundle.json) carries the
tool's preprocessing: CryoTEN 99.999th percentile, 1 Å, 48³ boxes at stride 38, plain mean;
Cryo2Struct 95th percentile, 1 Å, 32³ boxes at stride 20 keeping the central 20³, softmax,
Cα candidates above 0.4 clustered within 2 Å. enhance, segment, build-model, predict-batch and
serve then use these unless told otherwise. --check-io runs the bundle on a reference input
(CPU, fp32, raw outputs) and writes it only if it reproduces the reference output within 1e-4
(exit 2 otherwise).

Example usage:
  $ cryoray import-weights cryoten.ckpt --format cryoten -o models/cryoten
  $ cryoray import-weights atom_type.ckpt --format cryo2struct-atom -o models/c2s-atom
  $ cryoray import-weights amino_acid_type.ckpt --format cryo2struct-amino -o models/c2s-amino
  $ cryoray import-weights cryoten.ckpt --format cryoten -o models/cryoten --check-io cryoten_io.npz --json
"""

from __future__ import annotations

import argparse
import sys

from cryoray.cli.output import add_json_flag, emit

#: the --format names (cryoray.infer.importing.FORMATS; named here so --help imports no torch)
FORMATS = ("cryoten", "cryo2struct-atom", "cryo2struct-amino")


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="SRC", help="the tool's Lightning checkpoint (.ckpt)")
    parser.add_argument("--format", required=True, choices=FORMATS, help="which published model SRC is")
    parser.add_argument("-o", "--output", required=True, metavar="BUNDLE", help="bundle folder to write")
    parser.add_argument(
        "--check-io", metavar="IO.npz", help="reference .npz (input, output): write the bundle only if it reproduces it"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bundle")
    add_json_flag(parser)


def main(args: argparse.Namespace) -> int:
    from cryoray.infer.importing import CHECK_TOLERANCE, import_weights

    report = import_weights(args.checkpoint, args.format, args.output, check_io=args.check_io, overwrite=args.overwrite)
    emit(args, report.to_dict())
    if not report.passed:
        print(
            f"cryoray import-weights: error: {args.checkpoint}: the bundle's output differs from {args.check_io}'s "
            f"by {report.max_abs_diff:.3g} (more than {CHECK_TOLERANCE:g}); no bundle written",
            file=sys.stderr,
        )
        return 2
    return 0
