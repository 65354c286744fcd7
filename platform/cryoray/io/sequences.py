"""Protein sequences from FASTA files or from a model's entities, and which chains they belong to.

Residue letters (applied to every sequence, FASTA or model):

* Letters are upper-cased; white space, a trailing ``*`` and alignment gaps (``-``, ``.``) are
  dropped.
* The 20 standard amino acids are kept as they are (cryoray's order, shared with the label
  and HMM code, is ``A R N D C Q E G H I L K M F P S T W Y V``).
* ``U`` (selenocysteine) becomes ``C`` and ``O`` (pyrrolysine) becomes ``K``, their parents,
  since the published models and background frequencies know only the 20.
* ``B``, ``Z``, ``J`` and ``X`` become ``X``: unknown. Downstream, ``X`` gets no amino-acid label
  and a uniform amino-acid emission.
* Any other character (digits, punctuation) is an error naming the record.

Chains named by a FASTA header (first match wins):

* RCSB style ``>1ABC_1|Chains A, B[auth C]|...``: chains A and C (the author name is used,
  because model files name chains by author ids);
* ``>6GYN|entity_A|chains_A,B,C,D|...``: chains A-D;
* ``>1WCM:A|...``, ``>1ABC_A`` or ``>101m_A mol:protein length:154 ...`` (the PDB seqres file):
  chain A;  ``>pdb|5ni1|A C``: chains A and C;
* a header that is only chain ids, ``>A,B,C,D``.
Otherwise the record names no chain (``chains == ()``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import gemmi

from cryoray.errors import SequenceFormatError
from cryoray.io.models import AtomicModel
from cryoray.io.sources import read_text

__all__ = [
    "AMINO_ACIDS",
    "ChainSequence",
    "clean_sequence",
    "model_sequences",
    "one_letter",
    "parse_fasta",
    "read_fasta",
]

#: The 20 standard amino acids in the order of the published labels (1..20) and HMM tables.
AMINO_ACIDS = "ARNDCQEGHILKMFPSTWYV"
UNKNOWN = "X"
_SUBSTITUTE = {"U": "C", "O": "K", "B": UNKNOWN, "Z": UNKNOWN, "J": UNKNOWN, "X": UNKNOWN}
_DROP = str.maketrans("", "", " \t\r\n-.")
MAX_FASTA_BYTES = 64 << 20

_CHAIN_ID = r"[A-Za-z0-9]{1,4}"
_RCSB_CHAINS = re.compile(r"^Chains?\s+(.+)$")
_RCSB_ONE = re.compile(rf"^({_CHAIN_ID})(?:\[auth ({_CHAIN_ID})\])?$")
_LIST_CHAINS = re.compile(rf"^chains_({_CHAIN_ID}(?:,{_CHAIN_ID})*)$")
_ID_CHAIN = re.compile(r"^[0-9][A-Za-z0-9]{3}[:_]([A-Za-z][A-Za-z0-9]{0,3})$")
_DB_TAGS = {"pdb", "sp", "tr", "gi", "ref", "emb", "gb"}
_BARE_LIST = re.compile(rf"^{_CHAIN_ID}(?:\s*,\s*{_CHAIN_ID})*$")


@dataclass(frozen=True)
class ChainSequence:
    """One sequence and the chains it is assigned to.

    Args:
        name: the record's name (first word of the header) or the entity name.
        sequence: cleaned one-letter sequence (see module docs).
        chains: chain ids this sequence belongs to; empty if the header names none.
    """

    name: str
    sequence: str
    chains: tuple[str, ...] = ()


def clean_sequence(raw: str, *, source: object, record: str) -> str:
    """Apply the residue-letter policy; raise SequenceFormatError on anything else."""
    seq = raw.translate(_DROP).upper().rstrip("*")
    out = []
    for pos, letter in enumerate(seq, start=1):
        if letter in AMINO_ACIDS:
            out.append(letter)
        elif letter in _SUBSTITUTE:
            out.append(_SUBSTITUTE[letter])
        else:
            raise SequenceFormatError(source, f"record '{record}': invalid residue letter {letter!r} at position {pos}")
    if not out:
        raise SequenceFormatError(source, f"record '{record}' has no sequence")
    return "".join(out)


def _rcsb_chain(token: str) -> str | None:
    match = _RCSB_ONE.match(token.strip())
    return None if match is None else (match.group(2) or match.group(1))


def chains_from_header(header: str) -> tuple[str, ...]:
    """Chain ids named by a FASTA header (without the ``>``), or ``()``."""
    fields = [f.strip() for f in header.split("|")]
    for f in fields:
        rcsb = _RCSB_CHAINS.match(f)
        if rcsb:
            chains = [_rcsb_chain(t) for t in rcsb.group(1).split(",")]
            if all(chains):
                return tuple(chains)  # type: ignore[arg-type]
        listed = _LIST_CHAINS.match(f)
        if listed:
            return tuple(listed.group(1).split(","))
    first = fields[0]
    by_id = _ID_CHAIN.match(first.split()[0]) if first.split() else None
    if by_id:
        return (by_id.group(1),)
    if len(fields) >= 3 and fields[0].lower() == "pdb":
        tokens = fields[2].split()
        if tokens and all(re.fullmatch(_CHAIN_ID, t) for t in tokens):
            return tuple(tokens)
    if len(fields) == 1 and "," in first and _BARE_LIST.match(first):
        return tuple(t.strip() for t in first.split(","))
    return ()


def _record_name(header: str) -> str:
    """First header field (second after a database tag such as ``pdb|`` or ``sp|``)."""
    fields = [f.split()[0] if f.split() else "" for f in header.split("|")]
    if len(fields) > 1 and fields[0].lower() in _DB_TAGS:
        return fields[1]
    return fields[0]


def parse_fasta(text: str, *, source: object = "<fasta>") -> list[ChainSequence]:
    """Parse FASTA text into cleaned sequences with their chains.

    Written here rather than with a library reader because those reject letters (``.``, digits)
    before our residue-letter policy can drop them or name the offending record. Records whose
    header says ``mol:na`` (nucleic acids, as in the PDB's seqres file) are skipped.

    Raises:
        SequenceFormatError: no records, a record without sequence, or an invalid letter.
    """
    lines = text.removeprefix("\ufeff").splitlines()
    body = [line for line in lines if line.strip() and not line.startswith(";")]
    if not body:
        raise SequenceFormatError(source, "file is empty")
    if not body[0].startswith(">"):
        raise SequenceFormatError(source, "not FASTA: the first line must start with '>'")
    records: list[tuple[str, list[str]]] = []
    for line in body:
        if line.startswith(">"):
            records.append((line[1:].strip(), []))
        else:
            records[-1][1].append(line)
    out = []
    for header, parts in records:
        if "mol:na" in header.split():
            continue
        name = _record_name(header) or f"record{len(out) + 1}"
        out.append(
            ChainSequence(name, clean_sequence("".join(parts), source=source, record=name), chains_from_header(header))
        )
    if not out:
        raise SequenceFormatError(source, "no protein records (all are nucleic acids)")
    return out


def read_fasta(source: str | os.PathLike) -> list[ChainSequence]:
    """Read a FASTA file (optionally gzip) from a path or fsspec URL."""
    text = read_text(source, limit=MAX_FASTA_BYTES, what="sequence file", corrupt=SequenceFormatError)
    return parse_fasta(text, source=os.fspath(source))


def one_letter(residue_name: str) -> str:
    """One-letter code of a residue name under the letter policy (MSE -> M; non-amino acids -> X)."""
    info = gemmi.find_tabulated_residue(residue_name)
    if info is None or not info.is_amino_acid():
        return UNKNOWN
    letter = info.one_letter_code.upper()  # modified residues give their parent (MSE -> M)
    return _SUBSTITUTE.get(letter, letter if letter in AMINO_ACIDS else UNKNOWN)


def model_sequences(model: AtomicModel) -> list[ChainSequence]:
    """Protein sequences of a model's polymer entities (SEQRES / entity_poly), with their chains.

    Entities without a full sequence (a PDB file with no SEQRES) fall back to the residues
    that are modelled, in order, which loses unmodelled gaps.

    Raises:
        SequenceFormatError: the model has no protein chain.
    """
    model0 = model.structure[0]
    subchain_to_chain = {
        chain.get_polymer().subchain_id(): chain.name for chain in model0 if len(chain.get_polymer()) > 0
    }
    out = []
    for entity in model.structure.entities:
        if entity.entity_type != gemmi.EntityType.Polymer or entity.polymer_type != gemmi.PolymerType.PeptideL:
            continue
        chains = tuple(subchain_to_chain[s] for s in entity.subchains if s in subchain_to_chain)
        names = [gemmi.Entity.first_mon(m) for m in entity.full_sequence]
        if not names and chains:
            names = [r.name for r in model0[chains[0]].get_polymer()]
        if names:
            out.append(ChainSequence(f"entity_{entity.name}", "".join(one_letter(n) for n in names), chains))
    if not out:
        raise SequenceFormatError(model.source, "model has no protein chains to take a sequence from")
    return out
