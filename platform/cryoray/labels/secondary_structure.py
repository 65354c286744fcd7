"""Secondary structure per residue: from the model's HELIX/SHEET annotations, or from DSSP.

Codes follow the published labels: coil = 1, helix = 2, strand = 3. The source actually used
("annotations" or "dssp") is returned so it can be recorded with the labels.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

import gemmi

from cryoray.errors import ModelFormatError
from cryoray.io.models import AtomicModel

__all__ = ["COIL", "HELIX", "STRAND", "ResidueKey", "SecondaryStructureSource", "secondary_structure"]

COIL, HELIX, STRAND = 1, 2, 3
ResidueKey = tuple[str, int, str]  # chain, residue number, insertion code
SecondaryStructureSource = Literal["auto", "annotations", "dssp"]
_DSSP_HELIX = set("HGI")
_DSSP_STRAND = set("EB")


def _span(structure: gemmi.Structure, start: gemmi.AtomAddress, end: gemmi.AtomAddress) -> list[ResidueKey]:
    chain = next((c for c in structure[0] if c.name == start.chain_name), None)
    if chain is None:
        return []
    keys, inside = [], False
    for residue in chain:
        key = (chain.name, residue.seqid.num, residue.seqid.icode)
        if residue.seqid == start.res_id.seqid:
            inside = True
        if inside:
            keys.append(key)
        if residue.seqid == end.res_id.seqid:
            break
    return keys


def _from_annotations(model: AtomicModel) -> dict[ResidueKey, int]:
    st = model.structure
    codes: dict[ResidueKey, int] = {}
    for helix in st.helices:
        codes.update(dict.fromkeys(_span(st, helix.start, helix.end), HELIX))
    for sheet in st.sheets:
        for strand in sheet.strands:
            codes.update(dict.fromkeys(_span(st, strand.start, strand.end), STRAND))
    return codes


def _from_dssp(model: AtomicModel) -> dict[ResidueKey, int]:
    exe = shutil.which("mkdssp")
    if exe is None:
        raise RuntimeError("mkdssp not found: install Debian's `dssp` package (run.sh does)")
    with tempfile.TemporaryDirectory() as tmp:
        # mkdssp 4 rejects gemmi-written mmCIF (missing wwPDB categories) but reads a minimal
        # PDB file once it starts with a HEADER record; PDB limits (one-letter chains) apply.
        src, out = Path(tmp) / "model.pdb", Path(tmp) / "model.dssp"
        minimal = Path(tmp) / "atoms.pdb"
        model.structure.write_minimal_pdb(str(minimal))
        src.write_text(f"{'HEADER    CRYORAY MODEL':<80}\n" + minimal.read_text())
        result = subprocess.run([exe, "--output-format", "dssp", str(src), str(out)], capture_output=True, text=True)
        if result.returncode != 0 or not out.exists():
            raise ModelFormatError(model.source, f"DSSP failed: {' '.join(result.stderr.split())[:200]}")
        lines = out.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  #  RESIDUE")) + 1
    codes: dict[ResidueKey, int] = {}
    for line in lines[start:]:
        if len(line) < 17 or line[13] == "!":  # chain break marker
            continue
        key = (line[11].strip() or line[11], int(line[5:10]), line[10] if line[10] != " " else " ")
        code = line[16]
        codes[key] = HELIX if code in _DSSP_HELIX else STRAND if code in _DSSP_STRAND else COIL
    return codes


def secondary_structure(
    model: AtomicModel, source: SecondaryStructureSource = "auto"
) -> tuple[dict[ResidueKey, int], str]:
    """Per-residue codes (residues absent from the mapping are coil) and the source used.

    ``auto`` uses the model's annotations when it has any and DSSP otherwise.
    """
    if source == "annotations" or (source == "auto" and (model.structure.helices or model.structure.sheets)):
        return _from_annotations(model), "annotations"
    return _from_dssp(model), "dssp"
