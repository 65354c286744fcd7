"""Atomic models (PDB / mmCIF, optionally gzip) read through gemmi.

One parsing path for every source: the (decompressed) bytes are read through fsspec and
parsed from memory, the format told by the name (``.cif``/``.mmcif`` vs ``.pdb``/``.ent``) or,
failing that, by the content (``data_`` opens an mmCIF file).

Policy, applied on reading: only the first model of a multi-model file is kept; alternative
conformations are reduced to the first; hydrogens are kept (they matter for simulated maps);
a model with a NaN or infinite coordinate is refused (nothing downstream can place it).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import gemmi
import numpy as np

from cryoray.errors import EmptyModelError, ModelFormatError
from cryoray.io.sources import read_text

__all__ = ["MAX_MODEL_BYTES", "MODEL_SUFFIXES", "AtomTable", "AtomicModel", "read_model"]

MODEL_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")
#: Largest model file (decompressed) we parse; the biggest PDB entries are ~1 GB as mmCIF.
MAX_MODEL_BYTES = 2 << 30
_CIF_NAME = re.compile(r"\.(cif|mmcif)(\.gz)?$", re.IGNORECASE)
_PDB_NAME = re.compile(r"\.(pdb|ent)(\.gz)?$", re.IGNORECASE)


@dataclass(frozen=True)
class AtomTable:
    """Flat per-atom arrays of one model (all length N).

    Args:
        xyz: positions in Å, ``(N, 3)`` float64, (x, y, z).
        atomic_number: element numbers ``(N,)``.
        atom_name: atom names (``"CA"``, ``"N"``, ...).
        residue_name: residue names (``"ALA"``, ``"HEM"``, ...).
        chain: author chain names.
        seq_id: author residue numbers.
        icode: insertion codes (" " when none).
        is_amino_acid: atom belongs to an amino-acid residue (standard or modified).
    """

    xyz: np.ndarray
    atomic_number: np.ndarray
    atom_name: np.ndarray
    residue_name: np.ndarray
    chain: np.ndarray
    seq_id: np.ndarray
    icode: np.ndarray
    is_amino_acid: np.ndarray

    def __len__(self) -> int:
        return len(self.xyz)

    def select(self, mask: np.ndarray) -> AtomTable:
        return AtomTable(**{k: v[mask] for k, v in vars(self).items()})

    @property
    def is_ca(self) -> np.ndarray:
        """Cα atoms of amino-acid residues (not calcium ions, also named CA)."""
        return self.is_amino_acid & (self.atom_name == "CA") & (self.atomic_number == 6)


@dataclass(frozen=True)
class AtomicModel:
    """A parsed atomic model: the gemmi structure plus where it came from."""

    structure: gemmi.Structure
    source: str

    def atoms(self) -> AtomTable:
        """All atoms of the (single) model as flat arrays."""
        rows = []
        for chain in self.structure[0]:
            for residue in chain:
                info = gemmi.find_tabulated_residue(residue.name)
                amino = bool(info is not None and info.is_amino_acid())
                for atom in residue:
                    p = atom.pos
                    rows.append(
                        (
                            p.x,
                            p.y,
                            p.z,
                            atom.element.atomic_number,
                            atom.name,
                            residue.name,
                            chain.name,
                            residue.seqid.num,
                            residue.seqid.icode,
                            amino,
                        )
                    )
        cols = list(zip(*rows, strict=True))
        return AtomTable(
            xyz=np.array(cols[:3], dtype=np.float64).T.reshape(-1, 3),
            atomic_number=np.array(cols[3], dtype=np.int16),
            atom_name=np.array(cols[4], dtype=str),
            residue_name=np.array(cols[5], dtype=str),
            chain=np.array(cols[6], dtype=str),
            seq_id=np.array(cols[7], dtype=np.int64),
            icode=np.array(cols[8], dtype=str),
            is_amino_acid=np.array(cols[9], dtype=bool),
        )

    def ca_xyz(self) -> np.ndarray:
        """Cα positions ``(N, 3)`` in Å.

        Raises:
            EmptyModelError: the model has no amino-acid Cα atoms.
        """
        atoms = self.atoms()
        ca = atoms.xyz[atoms.is_ca]
        if len(ca) == 0:
            raise EmptyModelError(self.source, "model has no amino-acid CA atoms")
        return ca

    def translated(self, shift_xyz: tuple[float, float, float]) -> AtomicModel:
        """A copy moved by ``shift_xyz`` Å (e.g. a negative control for fit checks)."""
        structure = self.structure.clone()
        structure[0].transform_pos_and_adp(gemmi.Transform(gemmi.Mat33(), gemmi.Vec3(*shift_xyz)))
        return AtomicModel(structure=structure, source=f"{self.source} (shifted by {tuple(shift_xyz)} Å)")

    @property
    def chain_names(self) -> list[str]:
        """Distinct chain names in file order (PDB files may split a chain around TER records)."""
        return list(dict.fromkeys(chain.name for chain in self.structure[0]))


def _parse(text: str, source: str) -> gemmi.Structure:
    name = source.lower()
    is_cif = bool(_CIF_NAME.search(name)) or (not _PDB_NAME.search(name) and text.lstrip().startswith("data_"))
    try:
        if is_cif:
            doc = gemmi.cif.read_string(text)
            return gemmi.make_structure_from_block(doc.sole_block())
        return gemmi.read_pdb_string(text)
    except (RuntimeError, ValueError, IndexError) as exc:
        kind = "mmCIF" if is_cif else "PDB"
        raise ModelFormatError(source, f"not a valid {kind} file: {exc}") from exc


def _check_finite(model: gemmi.Model, source: str) -> None:
    """Refuse atoms whose coordinates are NaN or infinite, naming the first one."""
    bad = [cra for cra in model.all() if not all(map(math.isfinite, cra.atom.pos.tolist()))]
    if bad:
        first = bad[0]
        where = f"chain {first.chain.name} residue {first.residue.name} {first.residue.seqid} atom {first.atom.name}"
        raise ModelFormatError(source, f"{len(bad)} atoms have NaN or infinite coordinates (first: {where})")


def read_model(source: str | os.PathLike, *, max_bytes: int = MAX_MODEL_BYTES) -> AtomicModel:
    """Read a PDB or mmCIF model (optionally gzip) from a path or fsspec URL.

    Raises:
        SourceError: cannot open or read the source, or it is larger than ``max_bytes``.
        ModelFormatError: the content is not parseable PDB/mmCIF, or a coordinate is NaN/infinite.
        EmptyModelError: the model holds no atoms.
    """
    source = os.fspath(source)
    text = read_text(source, limit=max_bytes, what="model file", corrupt=ModelFormatError)
    structure = _parse(text, source)
    if len(structure) == 0 or structure[0].count_atom_sites() == 0:
        raise EmptyModelError(source, "model has no atoms")
    while len(structure) > 1:
        del structure[len(structure) - 1]
    _check_finite(structure[0], source)
    structure.remove_alternative_conformations()
    structure.setup_entities()
    return AtomicModel(structure=structure, source=source)
