"""Secondary structure per residue: from the model's HELIX/SHEET annotations, or from DSSP.

Codes follow the published labels: coil = 1, helix = 2, strand = 3. The source actually used
("annotations" or "dssp") is returned so it can be recorded with the labels.

DSSP (``mkdssp`` 4) reads and writes mmCIF here, so chain names of any length and models of
any size work (the PDB format has one-character chains: reading DSSP's classic columns made
every residue of a two-letter chain coil). Its ``_struct_conf`` ranges, in label numbering,
are mapped back to the model's residues through gemmi. It runs under ``DSSP_TIMEOUT_S``.
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

__all__ = [
    "COIL",
    "DSSP_TIMEOUT_S",
    "HELIX",
    "STRAND",
    "ResidueKey",
    "SecondaryStructureSource",
    "secondary_structure",
]

COIL, HELIX, STRAND = 1, 2, 3
ResidueKey = tuple[str, int, str]  # chain, residue number, insertion code
SecondaryStructureSource = Literal["auto", "annotations", "dssp"]
#: Seconds mkdssp may run on one model (a 4 000-residue complex takes a few seconds).
DSSP_TIMEOUT_S = 600
#: ``_struct_conf.conf_type_id`` of mkdssp -> code: H, G, I helices and E, B strands (STRN);
#: turns, bends and polyproline (HELX_LH_PP_P) are coil, as before with the classic letters.
_DSSP_TYPES = {"HELX_RH_AL_P": HELIX, "HELX_RH_3T_P": HELIX, "HELX_RH_PI_P": HELIX, "STRN": STRAND}
_CIF_GROUPS = ("block_name", "entry", "entity", "entity_poly", "entity_poly_seq", "struct_asym", "atoms", "atom_type")
_SCHEME_TAGS = [
    "asym_id",
    "entity_id",
    "seq_id",
    "mon_id",
    "ndb_seq_num",
    "pdb_seq_num",
    "auth_seq_num",
    "pdb_mon_id",
    "auth_mon_id",
    "pdb_strand_id",
    "pdb_ins_code",
    "hetero",
]


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


def _dssp_input(model: AtomicModel) -> tuple[gemmi.cif.Document, dict[tuple[str, int], ResidueKey]]:
    """The model as mmCIF that mkdssp accepts, and (label_asym_id, label_seq_id) -> residue key.

    Only the categories DSSP needs are written (REMARK-derived ones such as ``refine_ls_shell``
    made mkdssp fail on 1WCM). gemmi writes no ``_pdbx_poly_seq_scheme``, without which mkdssp
    finds no residues; it is added here from the (cloned) structure's label numbering.
    """
    st = model.structure.clone()
    st.setup_entities()
    st.assign_label_seq_id()
    groups = gemmi.MmcifOutputGroups(False)  # only what DSSP reads: other categories can trip it
    for name in _CIF_GROUPS:
        setattr(groups, name, True)
    doc = st.make_mmcif_document(groups)
    entity_of = {sub: entity.name for entity in st.entities for sub in entity.subchains}
    scheme = doc.sole_block().init_mmcif_loop("_pdbx_poly_seq_scheme.", _SCHEME_TAGS)
    keys: dict[tuple[str, int], ResidueKey] = {}
    for chain in st[0]:
        for residue in chain:
            if residue.entity_type != gemmi.EntityType.Polymer or residue.label_seq is None:
                continue
            num, icode = residue.seqid.num, residue.seqid.icode
            keys[(residue.subchain, residue.label_seq)] = (chain.name, num, icode)
            label, name, number = str(residue.label_seq), residue.name, str(num)
            strand, insertion = gemmi.cif.quote(chain.name), icode if icode != " " else "."
            row = [residue.subchain, entity_of[residue.subchain], label, name, label, number, number, name, name]
            scheme.add_row([*row, strand, insertion, "n"])
    return doc, keys


def _from_dssp(model: AtomicModel) -> dict[ResidueKey, int]:
    exe = shutil.which("mkdssp")
    if exe is None:
        raise RuntimeError("mkdssp not found: install Debian's `dssp` package (run.sh does)")
    doc, keys = _dssp_input(model)
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "model.cif", Path(tmp) / "dssp.cif"
        doc.write_file(str(src))
        try:
            result = subprocess.run(
                [exe, "--output-format", "mmcif", str(src), str(out)],
                capture_output=True,
                text=True,
                timeout=DSSP_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise ModelFormatError(model.source, f"DSSP did not finish within {DSSP_TIMEOUT_S} s") from None
        if result.returncode != 0 or not out.exists():
            raise ModelFormatError(model.source, f"DSSP failed: {' '.join(result.stderr.split())[:200]}")
        try:
            block = gemmi.cif.read(str(out)).sole_block()
        except (RuntimeError, ValueError) as exc:
            raise ModelFormatError(model.source, f"DSSP output is not readable mmCIF: {exc}") from exc
    ranges = block.find("_struct_conf.", ["conf_type_id", "beg_label_asym_id", "beg_label_seq_id", "end_label_seq_id"])
    codes = dict.fromkeys(keys.values(), COIL)
    for kind, asym, begin, end in ranges:
        code = _DSSP_TYPES.get(kind)
        if code is not None:
            for seq in range(int(begin), int(end) + 1):
                codes[keys[(asym, seq)]] = code
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
