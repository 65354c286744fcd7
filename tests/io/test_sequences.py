"""Tests for cryoray.io.sequences: FASTA reading, chain ids from headers, residue letters, model sequences."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from cryoray.errors import SequenceFormatError
from cryoray.io.models import read_model
from cryoray.io.sequences import (
    AMINO_ACIDS,
    ChainSequence,
    chains_from_header,
    clean_sequence,
    model_sequences,
    parse_fasta,
    read_fasta,
)

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
HB = REAL / "EMD-3488_5ME2_haemoglobin"
FASTA_FILES = sorted(REAL.glob("*/*.fasta"))


def atom_line(
    serial: int, name: str, resname: str, chain: str, resnum: int, x: float, element: str, *, het: bool = False
) -> str:
    """One fixed-column PDB ATOM/HETATM record; ``name`` is the 4-character PDB atom name field."""
    record = "HETATM" if het else "ATOM  "
    return (
        f"{record}{serial:5d} {name:<4s} {resname:>3s} {chain}{resnum:4d}    "
        f"{x:8.3f}{0.0:8.3f}{0.0:8.3f}  1.00 20.00          {element:>2s}\n"
    )


def residues_pdb(chains: dict[str, list[str]], *, het: frozenset[str] = frozenset({"MSE"})) -> str:
    """A PDB text (no SEQRES) with N, CA, C, O for each listed residue, chain by chain."""
    lines, serial = [], 1
    for chain, names in chains.items():
        for num, resname in enumerate(names, start=1):
            for name, element in ((" N  ", "N"), (" CA ", "C"), (" C  ", "C"), (" O  ", "O")):
                x = num * 3.8 + serial * 0.01
                lines.append(atom_line(serial, name, resname, chain, num, x, element, het=resname in het))
                serial += 1
        lines.append("TER\n")
    return "".join(lines) + "END\n"


def assert_one_line_from(exc: SequenceFormatError, source: Path | str) -> None:
    message = str(exc)
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith(f"{source}: "), message


# --- chains named by headers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "chains"),
    [
        pytest.param("1ABC_1|Chains A, B[auth C]|Title|Organism", ("A", "C"), id="rcsb-auth-name"),
        pytest.param("1ABC_1|Chain A|Title|Organism", ("A",), id="rcsb-single-chain"),
        pytest.param("7XYZ_2|Chains B, C|Protein, with comma|Homo sapiens (9606)", ("B", "C"), id="rcsb-comma-title"),
        pytest.param("6GYN|entity_A|chains_A,B,C,D|source=SEQRES/entity_poly", ("A", "B", "C", "D"), id="entity-list"),
        pytest.param("6VYB|entity_B|chains_|source=SEQRES/entity_poly", (), id="entity-list-empty"),
        pytest.param("1WCM:A|P04050", ("A",), id="pdb-colon-chain"),
        pytest.param("1ABC_A", ("A",), id="pdb-underscore-chain"),
        pytest.param("pdb|5ni1|A C", ("A", "C"), id="pdb-tag-space-list"),
        pytest.param("A,B,C,D", ("A", "B", "C", "D"), id="bare-list"),
        pytest.param("A, B", ("A", "B"), id="bare-list-spaces"),
        pytest.param("1461", (), id="emdb-number"),
        pytest.param("2513A", (), id="emdb-number-letter"),
        pytest.param("sp|P69905|HBA_HUMAN Hemoglobin", (), id="uniprot"),
        pytest.param("3J9S_1|Intermediate capsid protein VP6|Bovine rotavirus (10934)", (), id="rcsb-no-chains"),
    ],
)
def test_chains_from_header(header: str, chains: tuple[str, ...]) -> None:
    assert chains_from_header(header) == chains


# --- residue letters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        pytest.param("mkvla", "MKVLA", id="lower-case"),
        pytest.param("MK VL\tA\r\nGG\n", "MKVLAGG", id="whitespace"),
        pytest.param("MK-VL..A", "MKVLA", id="gaps"),
        pytest.param("MKVLA*", "MKVLA", id="trailing-stop"),
        pytest.param("MKVLA*\n", "MKVLA", id="trailing-stop-newline"),
        pytest.param("AUO", "ACK", id="sec-pyl-to-parents"),
        pytest.param("uo", "CK", id="sec-pyl-lower"),
        pytest.param("ABZJX", "AXXXX", id="ambiguous-to-X"),
        pytest.param(AMINO_ACIDS, AMINO_ACIDS, id="standard-20-unchanged"),
        pytest.param(AMINO_ACIDS.lower(), AMINO_ACIDS, id="standard-20-lower"),
    ],
)
def test_clean_sequence_letters(raw: str, clean: str) -> None:
    assert clean_sequence(raw, source="s.fasta", record="rec") == clean


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        pytest.param("MKV1LA", "'1' at position 4", id="digit"),
        pytest.param("M K V 9", "'9' at position 4", id="digit-after-spaces"),
        pytest.param("MK*VL", "'*'", id="inner-stop"),
        pytest.param("MK!", "'!'", id="punctuation"),
        pytest.param("", "no sequence", id="empty"),
        pytest.param("--- *", "no sequence", id="only-gaps"),
    ],
)
def test_clean_sequence_rejects(raw: str, needle: str) -> None:
    with pytest.raises(SequenceFormatError) as info:
        clean_sequence(raw, source="s.fasta", record="myrecord")
    assert_one_line_from(info.value, "s.fasta")
    assert "'myrecord'" in str(info.value)
    assert needle in str(info.value)


def test_amino_acid_alphabet() -> None:
    assert len(AMINO_ACIDS) == 20 == len(set(AMINO_ACIDS))
    assert AMINO_ACIDS == "ARNDCQEGHILKMFPSTWYV"


# --- FASTA files ------------------------------------------------------------------------------


def test_real_fasta_corpus_found() -> None:
    assert len(FASTA_FILES) >= 10


@pytest.mark.parametrize("path", FASTA_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_fasta_parses(path: Path) -> None:
    records = read_fasta(path)
    assert len(records) >= 1
    allowed = set(AMINO_ACIDS + "X")
    for record in records:
        assert isinstance(record, ChainSequence)
        assert record.name
        assert len(record.sequence) > 20
        assert set(record.sequence) <= allowed, record.name


def test_5me2_fasta_chains() -> None:
    records = read_fasta(HB / "5me2_seqres.fasta")
    assert [r.chains for r in records] == [("A", "C"), ("B", "D")]
    assert [r.name for r in records] == ["5ME2", "5ME2"]
    assert [len(r.sequence) for r in records] == [140, 143]
    assert records[0].sequence.startswith("VLSPADKTNVKAAWGKVGAH")
    assert records[1].sequence.startswith("VHLTPEEKSAVTALWGKVNV")


def test_1wcm_fasta_has_12_single_chain_records() -> None:
    records = read_fasta(REAL / "EMD-1883_RNA-PolII" / "1WCM.fasta")
    assert len(records) == 12
    assert [r.chains for r in records] == [(c,) for c in "ABCDEFGHIJKL"]
    assert records[0].name == "1WCM:A"


def test_pdb_tag_record_name_and_chains() -> None:
    """``>pdb|5ni1|A C``: the record is named after the entry, not the ``pdb`` tag."""
    records = read_fasta(HB / "5ni1_entry.fasta")
    assert [(r.name, r.chains) for r in records] == [("5ni1", ("A", "C")), ("5ni1", ("B", "D"))]


def test_read_fasta_gzip_and_url(tmp_path: Path) -> None:
    plain = read_fasta(HB / "5me2_seqres.fasta")
    gz = tmp_path / "5me2.fasta.gz"
    gz.write_bytes(gzip.compress((HB / "5me2_seqres.fasta").read_bytes()))
    assert read_fasta(gz) == plain
    assert read_fasta((HB / "5me2_seqres.fasta").as_uri()) == plain


def test_parse_fasta_multi_record_cleaning() -> None:
    text = ">first desc\nmkv-la\nGG*\n\n>second\nAUO\nBZ\n"
    records = parse_fasta(text, source="mem")
    assert records == [ChainSequence("first", "MKVLAGG", ()), ChainSequence("second", "ACKXX", ())]


def test_parse_fasta_crlf_line_ends() -> None:
    assert parse_fasta(">a\r\nMKV\r\nLA\r\n") == [ChainSequence("a", "MKVLA", ())]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        pytest.param(b"", "empty", id="empty-file"),
        pytest.param(b"  \n\n\t\n", "empty", id="whitespace-only"),
        pytest.param(b">1ABC_1|Chains A, B|header only\n", "no sequence", id="header-only"),
        pytest.param(b">a\nMKV\n>b\n", "'b' has no sequence", id="last-record-empty"),
        pytest.param(b"MKVLAAGIV\n", "'>'", id="no-header-line"),
        pytest.param(b"No header line here\n>a\nMKV\n", "'>'", id="text-before-header"),
        pytest.param(b">a\nMK\x00\x01\x02VL\n", "binary", id="binary-with-header"),
        pytest.param(bytes(range(256)) * 4, "binary", id="binary-junk"),
        pytest.param(b">x\nMKV1234LAA\n", "1", id="digits"),
    ],
)
def test_read_fasta_errors(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "bad.fasta"
    path.write_bytes(content)
    with pytest.raises(SequenceFormatError) as info:
        read_fasta(path)
    assert_one_line_from(info.value, path)
    assert needle in info.value.reason


def test_read_fasta_gzipped_binary_is_sequence_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.fasta.gz"
    path.write_bytes(gzip.compress(bytes(range(256)) * 4))
    with pytest.raises(SequenceFormatError) as info:
        read_fasta(path)
    assert_one_line_from(info.value, path)


def test_parse_fasta_drops_dot_gaps() -> None:
    assert parse_fasta(">a\nMK.VL\n") == [ChainSequence("a", "MKVL", ())]


def test_parse_fasta_digit_error_names_record() -> None:
    with pytest.raises(SequenceFormatError) as info:
        parse_fasta(">good\nMKV\n>bad_one\nMK1V\n", source="s.fasta")
    assert "'bad_one'" in str(info.value)


def test_parse_fasta_accepts_leading_blank_line() -> None:
    assert parse_fasta("\n>a\nMKV\n") == [ChainSequence("a", "MKV", ())]


# --- sequences from models --------------------------------------------------------------------


def test_5me2_model_sequences_match_fasta() -> None:
    """SEQRES of 5me2.pdb gives the same entities, sequences and chains as its FASTA."""
    fasta = read_fasta(HB / "5me2_seqres.fasta")
    model = model_sequences(read_model(HB / "5me2.pdb"))
    assert len(model) == len(fasta) == 2
    for from_model, from_fasta in zip(model, fasta, strict=True):
        assert from_model.chains == from_fasta.chains
        assert len(from_model.sequence) == len(from_fasta.sequence)
        assert from_model.sequence == from_fasta.sequence
    assert [len(s.sequence) for s in model] == [140, 143]


def test_5ni1_mmcif_sequences_match_entry_fasta() -> None:
    """entity_poly of the mmCIF gives the full deposited sequences (141 and 146 residues)."""
    fasta = read_fasta(HB / "5ni1_entry.fasta")
    model = model_sequences(read_model(HB / "5ni1_updated.cif"))
    assert [(s.sequence, s.chains) for s in model] == [(s.sequence, s.chains) for s in fasta]
    assert [len(s.sequence) for s in model] == [141, 146]


def test_model_without_seqres_falls_back_to_modelled_residues(tmp_path: Path) -> None:
    path = tmp_path / "no_seqres.pdb"
    path.write_text(residues_pdb({"A": ["ALA", "GLY", "SER", "TRP"], "B": ["LYS", "PHE", "GLU"]}))
    seqs = model_sequences(read_model(path))
    assert sorted((s.sequence, s.chains) for s in seqs) == [("AGSW", ("A",)), ("KFE", ("B",))]


def test_modified_residue_mse_becomes_m(tmp_path: Path) -> None:
    path = tmp_path / "mse.pdb"
    path.write_text(residues_pdb({"A": ["ALA", "MSE", "GLY", "MSE"]}))
    [seq] = model_sequences(read_model(path))
    assert seq.sequence == "AMGM"
    assert seq.chains == ("A",)


def test_seqres_wins_over_modelled_residues(tmp_path: Path) -> None:
    """With SEQRES, unmodelled residues are part of the sequence (and MSE in SEQRES reads as M)."""
    path = tmp_path / "seqres.pdb"
    seqres = "SEQRES   1 A    5  ALA MSE GLY SER LYS\n"
    path.write_text(seqres + residues_pdb({"A": ["ALA", "MSE"]}))
    [seq] = model_sequences(read_model(path))
    assert seq.sequence == "AMGSK"
    assert seq.chains == ("A",)


def test_model_sequences_without_protein(tmp_path: Path) -> None:
    path = tmp_path / "ligand.pdb"
    path.write_text(
        atom_line(1, "FE  ", "HEM", "A", 201, 0.0, "FE", het=True)
        + atom_line(2, "CA  ", "CA", "A", 202, 5.0, "CA", het=True)
        + "END\n"
    )
    with pytest.raises(SequenceFormatError) as info:
        model_sequences(read_model(path))
    assert_one_line_from(info.value, path)


def test_bom_and_seqres_style_headers() -> None:
    """A UTF-8 byte-order mark is dropped; PDB seqres headers name the chain; mol:na is skipped."""
    text = "\ufeff>101m_A mol:protein length:5  MYOGLOBIN\nMVLSE\n>1abc_B mol:na length:4  RNA\nACGU\n"
    assert parse_fasta(text) == [ChainSequence("101m_A", "MVLSE", ("A",))]
