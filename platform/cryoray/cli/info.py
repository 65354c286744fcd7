"""Describe a map, an atomic model or a sequence file (the kind is told by the file name).

For a map: shape (x, y, z), voxel size and origin in Å (x, y, z), axis order, mode and value
statistics. For a model: atoms, CA atoms, chains and entity sequences. For FASTA: the records
with their lengths and chains.

Example usage:
  $ cryoray info emd_3488.map.gz
  $ cryoray info s3://bucket/emd_3488.map --json
  $ cryoray info 5me2.cif
  $ cryoray info 5me2.fasta --json
"""

from __future__ import annotations

import argparse
import re

from cryoray.cli.output import add_json_flag, emit
from cryoray.io.models import MODEL_SUFFIXES, read_model
from cryoray.io.mrc import MAX_VOXELS, read_map_with_header
from cryoray.io.sequences import model_sequences, read_fasta

FASTA_SUFFIXES = (".fasta", ".fa", ".faa", ".fas", ".seq")


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="map (.mrc/.map/.ccp4[.gz]), model (.pdb/.cif[.gz]) or FASTA; path or URL")
    parser.add_argument(
        "--max-voxels", type=int, default=MAX_VOXELS, help="refuse maps with more voxels (default: %(default)s)"
    )
    add_json_flag(parser)


def _kind(path: str) -> str:
    name = re.sub(r"\.gz$", "", path.lower())
    if name.endswith(MODEL_SUFFIXES):
        return "model"
    if name.endswith(FASTA_SUFFIXES):
        return "sequence"
    return "map"


def map_info(path: str, *, max_voxels: int = MAX_VOXELS) -> dict[str, object]:
    header, density = read_map_with_header(path, max_voxels=max_voxels)
    return {"path": path, "kind": "map", **header.to_dict(), **density.stats()}


def model_info(path: str) -> dict[str, object]:
    model = read_model(path)
    atoms = model.atoms()
    return {
        "path": path,
        "kind": "model",
        "n_atoms": len(atoms),
        "n_ca": int(atoms.is_ca.sum()),
        "chains": model.chain_names,
        "sequences": [
            {"name": s.name, "length": len(s.sequence), "chains": list(s.chains)} for s in model_sequences(model)
        ]
        if atoms.is_amino_acid.any()
        else [],
    }


def sequence_info(path: str) -> dict[str, object]:
    records = read_fasta(path)
    return {
        "path": path,
        "kind": "sequence",
        "records": [{"name": r.name, "length": len(r.sequence), "chains": list(r.chains)} for r in records],
    }


def main(args: argparse.Namespace) -> None:
    kind = _kind(args.path)
    if kind == "model":
        emit(args, model_info(args.path))
    elif kind == "sequence":
        emit(args, sequence_info(args.path))
    else:
        emit(args, map_info(args.path, max_voxels=args.max_voxels))
