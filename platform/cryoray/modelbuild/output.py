"""Writing a threaded model: a Cα trace per chain, as mmCIF or PDB (gemmi).

* One chain per threaded chain, named as in the FASTA headers; residues in sequence order and
  numbered by their position in the sequence (1-based, both author and label numbering), so
  unplaced residues leave gaps in the numbering and are never invented.
* One ``CA`` atom per placed residue at its state's position; residue names from the sequence
  (``X`` is written as ``UNK``).
* Per-residue confidence for ChimeraX (``color bfactor``) and other viewers:
  **B-factor** = 100 × the state's Cα probability (0–100, like pLDDT, so
  ``color bfactor palette alphafold`` reads it), **occupancy** = the state's probability of the
  residue's amino acid (0–1; 0.05 for ``X``).
* mmCIF files carry the full sequences (``entity_poly_seq``), so unplaced residues stay known.

Format by name: ``.cif``/``.mmcif`` (optionally ``.gz``) → mmCIF, ``.pdb``/``.ent`` → PDB.
PDB allows chain ids of at most 2 characters and residue numbers up to 9999; otherwise use mmCIF.
"""

from __future__ import annotations

import gzip
import os

import gemmi
import numpy as np

from cryoray.io.mrc import check_output
from cryoray.io.sequences import AMINO_ACIDS
from cryoray.io.sources import write_bytes
from cryoray.modelbuild.errors import ModelOutputError
from cryoray.modelbuild.threading import ThreadingResult

__all__ = ["model_structure", "residue_confidence", "write_model"]

_THREE = {letter: gemmi.find_tabulated_residue(name).name for letter, name in zip(AMINO_ACIDS, (
    "ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
    "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL",
), strict=True)} | {"X": "UNK"}  # fmt: skip


def residue_confidence(result: ThreadingResult, chain_index: int) -> tuple[np.ndarray, np.ndarray]:
    """(Cα probability, amino-acid probability) of each placed residue of one chain, in order."""
    chain = result.chains[chain_index]
    placed = np.flatnonzero(chain.states >= 0)
    states = chain.states[placed]
    probs = result.states.aa_probs[states] + 1e-20
    probs = probs / probs.sum(axis=1, keepdims=True)
    aa_conf = np.full(len(placed), 1.0 / 20.0)
    for n, pos in enumerate(placed):
        letter = chain.sequence[pos]
        if letter in AMINO_ACIDS:
            aa_conf[n] = probs[n, AMINO_ACIDS.index(letter)]
    return result.states.ca_prob[states], aa_conf


def model_structure(result: ThreadingResult) -> gemmi.Structure:
    """The Cα trace of a threading result as a gemmi structure (see module docs)."""
    structure = gemmi.Structure()
    structure.name = "cryoray_model"
    structure.cell = gemmi.UnitCell()
    model = gemmi.Model("1")
    entity_of: dict[str, str] = {}
    for index, chain in enumerate(result.chains):
        if chain.placed == 0:
            continue
        ca_prob, aa_conf = residue_confidence(result, index)
        gchain = gemmi.Chain(chain.chain_id)
        entity = entity_of.setdefault(chain.sequence, str(len(entity_of) + 1))
        for n, pos in enumerate(np.flatnonzero(chain.states >= 0)):
            residue = gemmi.Residue()
            residue.name = _THREE[chain.sequence[pos]]
            residue.seqid = gemmi.SeqId(int(pos) + 1, " ")
            residue.label_seq = int(pos) + 1
            residue.entity_type = gemmi.EntityType.Polymer
            residue.entity_id = entity
            residue.subchain = chain.chain_id
            atom = gemmi.Atom()
            atom.name = "CA"
            atom.element = gemmi.Element("C")
            atom.pos = gemmi.Position(*result.states.xyz[chain.states[pos]])
            atom.b_iso = float(100.0 * ca_prob[n])
            atom.occ = float(aa_conf[n])
            residue.add_atom(atom)
            gchain.add_residue(residue)
        model.add_chain(gchain)
    structure.add_model(model)
    for sequence, name in entity_of.items():
        entity = gemmi.Entity(name)
        entity.entity_type = gemmi.EntityType.Polymer
        entity.polymer_type = gemmi.PolymerType.PeptideL
        entity.full_sequence = [_THREE[c] for c in sequence]
        entity.subchains = [c.chain_id for c in result.chains if c.sequence == sequence and c.placed]
        structure.entities.append(entity)
    return structure


def _kind(path: str) -> str:
    name = path.lower().removesuffix(".gz")
    if name.endswith((".cif", ".mmcif")):
        return "cif"
    if name.endswith((".pdb", ".ent")):
        return "pdb"
    raise ModelOutputError(path, "unknown model format: name the file .cif or .pdb (optionally .gz)")


def write_model(path: str | os.PathLike, result: ThreadingResult, *, overwrite: bool = False) -> None:
    """Write the model as mmCIF or PDB (by name; ``.gz`` compresses); the file appears only when complete.

    Raises:
        ModelOutputError: unknown format, or PDB limits exceeded (long chain ids, positions > 9999).
        SourceError: the target exists (without ``overwrite``) or cannot be written.
    """
    path = os.fspath(path)
    kind = _kind(path)
    structure = model_structure(result)
    if kind == "pdb":
        long_ids = [c.chain_id for c in result.chains if len(c.chain_id) > 2]
        if long_ids:
            raise ModelOutputError(
                path, f"chain ids longer than 2 characters ({long_ids[:3]}) do not fit PDB format; write .cif"
            )
        if any(len(c.sequence) > 9999 for c in result.chains):
            raise ModelOutputError(path, "residue numbers above 9999 do not fit PDB format; write .cif")
        text = structure.make_pdb_string()
    else:
        text = structure.make_mmcif_document().as_string()
    data = text.encode()
    if path.lower().endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    check_output(path, overwrite=overwrite)
    write_bytes(path, data)
