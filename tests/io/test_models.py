"""Tests for cryoray.io.models: reading PDB/mmCIF models (plain, gzip, URL) and their atom tables."""

from __future__ import annotations

import gzip
import math
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from cryoray.errors import EmptyModelError, InputError, ModelFormatError, SourceError
from cryoray.io.models import AtomicModel, read_model

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
HB = REAL / "EMD-3488_5ME2_haemoglobin"
PDB_5ME2 = HB / "5me2.pdb"
CIF_5NI1 = HB / "5ni1_updated.cif"


# --- tiny PDB writer ---------------------------------------------------------------------------


def atom_line(
    serial: int,
    name: str,
    resname: str,
    chain: str,
    resnum: int,
    xyz: tuple[float, float, float],
    element: str,
    *,
    het: bool = False,
    altloc: str = " ",
    occupancy: float = 1.0,
) -> str:
    """One fixed-column PDB ATOM/HETATM record; ``name`` is the 4-character PDB atom name field."""
    record = "HETATM" if het else "ATOM  "
    x, y, z = xyz
    return (
        f"{record}{serial:5d} {name:<4s}{altloc}{resname:>3s} {chain}{resnum:4d}    "
        f"{x:8.3f}{y:8.3f}{z:8.3f}{occupancy:6.2f} 20.00          {element:>2s}\n"
    )


def backbone(chain: str, resnum: int, resname: str, x0: float, serial: int = 1, *, het: bool = False) -> str:
    """N, CA, C, O of one residue laid out along x starting at ``x0``."""
    names = ((" N  ", "N"), (" CA ", "C"), (" C  ", "C"), (" O  ", "O"))
    return "".join(
        atom_line(serial + i, name, resname, chain, resnum, (x0 + i, 0.0, 0.0), el, het=het)
        for i, (name, el) in enumerate(names)
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def assert_one_line_from(exc: InputError, source: Path | str) -> None:
    message = str(exc)
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith(f"{source}: "), message


@pytest.fixture(scope="module")
def hb_pdb() -> AtomicModel:
    return read_model(PDB_5ME2)


@pytest.fixture(scope="module")
def hb_cif() -> AtomicModel:
    return read_model(CIF_5NI1)


# --- formats, compression, URLs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "gz_name"),
    [pytest.param(PDB_5ME2, "copy.pdb.gz", id="pdb.gz"), pytest.param(CIF_5NI1, "copy.cif.gz", id="cif.gz")],
)
def test_gzip_copy_reads_like_original(tmp_path: Path, original: Path, gz_name: str) -> None:
    plain = read_model(original).atoms()
    gz = tmp_path / gz_name
    gz.write_bytes(gzip.compress(original.read_bytes()))
    packed = read_model(gz).atoms()
    assert len(plain) > 4000
    assert len(packed) == len(plain)
    np.testing.assert_array_equal(packed.xyz, plain.xyz)
    np.testing.assert_array_equal(packed.atom_name, plain.atom_name)


def test_gzip_detected_from_content_not_name(tmp_path: Path) -> None:
    """A gzip file named plain ``.pdb`` still opens (gzip is detected by its magic bytes)."""
    mislabelled = tmp_path / "really_gzip.pdb"
    mislabelled.write_bytes(gzip.compress(PDB_5ME2.read_bytes()))
    assert len(read_model(mislabelled).atoms()) == len(read_model(PDB_5ME2).atoms())


def test_mmcif_recognised_by_content_without_suffix(tmp_path: Path, hb_cif: AtomicModel) -> None:
    """No model suffix: ``data_`` at the start makes it mmCIF."""
    unnamed = tmp_path / "model.txt"
    shutil.copyfile(CIF_5NI1, unnamed)
    assert len(read_model(unnamed).atoms()) == len(hb_cif.atoms())


def test_pdb_and_mmcif_of_same_protein_agree(hb_pdb: AtomicModel, hb_cif: AtomicModel) -> None:
    """5ME2 (PDB) and 5NI1 (mmCIF) are the same haemoglobin: same chains, similar size."""
    pdb_atoms, cif_atoms = hb_pdb.atoms(), hb_cif.atoms()
    assert set(pdb_atoms.chain) == set(cif_atoms.chain) == {"A", "B", "C", "D"}
    assert abs(int(pdb_atoms.is_ca.sum()) - int(cif_atoms.is_ca.sum())) <= 10


@pytest.mark.parametrize("path", [pytest.param(PDB_5ME2, id="pdb"), pytest.param(CIF_5NI1, id="cif")])
def test_file_url_reads_like_path(path: Path) -> None:
    url = path.as_uri()
    assert url.startswith("file://")
    model = read_model(url)
    assert model.source == url
    np.testing.assert_array_equal(model.atoms().xyz, read_model(path).atoms().xyz)


def test_path_and_str_sources_are_equivalent() -> None:
    by_path, by_str = read_model(PDB_5ME2), read_model(str(PDB_5ME2))
    assert by_path.source == by_str.source == str(PDB_5ME2)
    assert len(by_path.atoms()) == len(by_str.atoms())


# --- AtomTable --------------------------------------------------------------------------------


def test_5me2_atom_table(hb_pdb: AtomicModel) -> None:
    atoms = hb_pdb.atoms()
    n = len(atoms)
    assert n == 4468
    assert atoms.xyz.shape == (n, 3) and atoms.xyz.dtype == np.float64
    for column in ("atomic_number", "atom_name", "residue_name", "chain", "seq_id", "is_amino_acid"):
        assert getattr(atoms, column).shape == (n,), column
    assert int(atoms.is_ca.sum()) == 566
    assert sorted(set(atoms.chain.tolist())) == ["A", "B", "C", "D"]
    assert set(atoms.residue_name[~atoms.is_amino_acid].tolist()) >= {"HEM"}
    assert np.all(atoms.atomic_number[atoms.is_ca] == 6)


def test_5me2_ca_xyz(hb_pdb: AtomicModel) -> None:
    atoms = hb_pdb.atoms()
    ca = hb_pdb.ca_xyz()
    assert ca.shape == (566, 3)
    np.testing.assert_array_equal(ca, atoms.xyz[atoms.is_ca])
    assert np.isfinite(ca).all()


def test_select_keeps_columns_aligned(hb_pdb: AtomicModel) -> None:
    atoms = hb_pdb.atoms()
    chain_b = atoms.select(atoms.chain == "B")
    assert 0 < len(chain_b) < len(atoms)
    assert set(chain_b.chain.tolist()) == {"B"}
    assert len(chain_b.residue_name) == len(chain_b.xyz) == len(chain_b.is_amino_acid)


@pytest.mark.parametrize(
    "element_column",
    [pytest.param("CA", id="element-column-CA"), pytest.param("  ", id="no-element-column")],
)
def test_calcium_named_ca_is_not_a_c_alpha(tmp_path: Path, element_column: str) -> None:
    """A Ca2+ ion (atom CA, residue CA) in the protein's chain is not counted as a Cα atom."""
    text = (
        backbone("A", 1, "GLY", 0.0)
        + "TER\n"
        + atom_line(5, "CA  ", "CA", "A", 101, (10.0, 10.0, 10.0), element_column, het=True)
        + "END\n"
    )
    model = read_model(write(tmp_path / "calcium.pdb", text))
    atoms = model.atoms()
    assert len(atoms) == 5
    calcium = atoms.residue_name == "CA"
    assert calcium.sum() == 1
    assert atoms.atomic_number[calcium][0] == 20
    assert not atoms.is_ca[calcium][0]
    assert int(atoms.is_ca.sum()) == 1
    np.testing.assert_array_equal(model.ca_xyz(), [[1.0, 0.0, 0.0]])


def test_modified_residue_ca_counts(tmp_path: Path) -> None:
    """Selenomethionine (HETATM MSE) is an amino acid: its Cα counts."""
    text = backbone("A", 1, "ALA", 0.0) + backbone("A", 2, "MSE", 4.0, serial=5, het=True) + "END\n"
    atoms = read_model(write(tmp_path / "mse.pdb", text)).atoms()
    assert atoms.is_amino_acid.all()
    assert int(atoms.is_ca.sum()) == 2


def test_hydrogens_are_kept(tmp_path: Path) -> None:
    text = (
        backbone("A", 1, "GLY", 0.0)
        + atom_line(5, " H  ", "GLY", "A", 1, (0.0, 1.0, 0.0), "H")
        + atom_line(6, " HA2", "GLY", "A", 1, (1.0, 1.0, 0.0), "H")
        + atom_line(7, " HA3", "GLY", "A", 1, (1.0, -1.0, 0.0), "H")
        + "END\n"
    )
    atoms = read_model(write(tmp_path / "with_h.pdb", text)).atoms()
    assert len(atoms) == 7
    assert int((atoms.atomic_number == 1).sum()) == 3


def test_only_first_model_kept(tmp_path: Path) -> None:
    """MODEL 2 has other coordinates and an extra residue; only MODEL 1 survives."""
    text = (
        "MODEL        1\n"
        + backbone("A", 1, "GLY", 0.0)
        + "ENDMDL\nMODEL        2\n"
        + backbone("A", 1, "GLY", 100.0)
        + backbone("A", 2, "GLY", 104.0, serial=5)
        + "ENDMDL\nEND\n"
    )
    model = read_model(write(tmp_path / "two_models.pdb", text))
    assert len(model.structure) == 1
    atoms = model.atoms()
    assert len(atoms) == 4
    np.testing.assert_array_equal(atoms.xyz, [[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]])
    assert model.ca_xyz().tolist() == [[1.0, 0.0, 0.0]]


def test_alternative_conformations_reduced_to_first(tmp_path: Path) -> None:
    """A serine with side-chain altlocs A (occ 0.6) and B (occ 0.4) keeps one copy of each atom, from A."""
    text = (
        atom_line(1, " N  ", "SER", "A", 1, (0.0, 0.0, 0.0), "N")
        + atom_line(2, " CA ", "SER", "A", 1, (1.0, 0.0, 0.0), "C")
        + atom_line(3, " CB ", "SER", "A", 1, (1.0, 1.0, 0.0), "C", altloc="A", occupancy=0.6)
        + atom_line(4, " CB ", "SER", "A", 1, (1.0, -1.0, 0.0), "C", altloc="B", occupancy=0.4)
        + atom_line(5, " OG ", "SER", "A", 1, (1.0, 2.0, 0.0), "O", altloc="A", occupancy=0.6)
        + atom_line(6, " OG ", "SER", "A", 1, (1.0, -2.0, 0.0), "O", altloc="B", occupancy=0.4)
        + "END\n"
    )
    atoms = read_model(write(tmp_path / "altloc.pdb", text)).atoms()
    assert atoms.atom_name.tolist() == ["N", "CA", "CB", "OG"]
    np.testing.assert_array_equal(atoms.xyz[2:], [[1.0, 1.0, 0.0], [1.0, 2.0, 0.0]])


def test_chain_names_are_distinct(hb_pdb: AtomicModel, hb_cif: AtomicModel) -> None:
    """Haem records after TER must not show up as a second chain A (or B, C, D)."""
    assert hb_pdb.chain_names == ["A", "B", "C", "D"]
    assert hb_cif.chain_names == ["A", "B", "C", "D"]


# --- translated -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shift",
    [pytest.param((20.0, 0.0, 0.0), id="x+20"), pytest.param((0.0, -7.5, 3.25), id="y-7.5_z+3.25")],
)
def test_translated_moves_every_atom(hb_pdb: AtomicModel, shift: tuple[float, float, float]) -> None:
    before = hb_pdb.atoms().xyz.copy()
    moved = hb_pdb.translated(shift)
    after = moved.atoms().xyz
    assert after.shape == before.shape
    np.testing.assert_allclose(after - before, np.broadcast_to(shift, before.shape), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(hb_pdb.atoms().xyz, before)  # the original is untouched
    assert moved.source.startswith(str(PDB_5ME2)) and moved.source != hb_pdb.source
    np.testing.assert_allclose(moved.ca_xyz() - hb_pdb.ca_xyz(), np.broadcast_to(shift, (566, 3)), atol=1e-9)


# --- errors -----------------------------------------------------------------------------------


def _random_bytes(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


ERROR_CASES = [
    pytest.param(lambda d: d / "missing.pdb", SourceError, id="missing-file"),
    pytest.param(lambda d: d / "no_such_dir" / "model.cif.gz", SourceError, id="missing-dir"),
    pytest.param(lambda d: d, SourceError, id="directory"),
    pytest.param(lambda d: write(d / "empty.pdb", ""), EmptyModelError, id="empty-pdb"),
    pytest.param(
        lambda d: write(d / "header_only.pdb", "HEADER    NOTHING HERE\nREMARK   1 no atoms\nEND\n"),
        EmptyModelError,
        id="pdb-without-atoms",
    ),
    pytest.param(
        lambda d: write(d / "empty_loop.cif", "data_x\n_cell.length_a 10\n"),
        EmptyModelError,
        id="mmcif-without-atoms",
    ),
    pytest.param(
        lambda d: write(
            d / "malformed.cif",
            "data_bad\nloop_\n_atom_site.id\n_atom_site.Cartn_x\n1 2.0 3\n'unterminated\n",
        ),
        ModelFormatError,
        id="malformed-mmcif",
    ),
    pytest.param(
        lambda d: write(d / "no_block.cif", "this is not a cif file\n"),
        ModelFormatError,
        id="cif-no-data-block",
    ),
    pytest.param(
        lambda d: write_bytes(d / "junk.pdb", _random_bytes(8192)),
        ModelFormatError,
        id="binary-junk-pdb",
    ),
    pytest.param(
        lambda d: write_bytes(d / "junk.cif.gz", gzip.compress(_random_bytes(3000, seed=2))),
        ModelFormatError,
        id="gzipped-binary-junk-cif",
    ),
    pytest.param(
        lambda d: shutil.copyfile(REAL / "EMD-8249_5KHE_rubella-capsid" / "emd_8249.map", d / "map.pdb"),
        ModelFormatError,
        id="mrc-map-named-pdb",
    ),
    pytest.param(
        lambda d: write_bytes(d / "cut.pdb.gz", gzip.compress(PDB_5ME2.read_bytes())[:5000]),
        ModelFormatError,
        id="truncated-gzip",
    ),
    pytest.param(
        lambda d: write(d / "nan.pdb", atom_line(1, " CA ", "ALA", "A", 1, (math.nan, 0.0, 0.0), "C")),
        ModelFormatError,
        id="nan-coordinate-pdb",
    ),
    pytest.param(
        lambda d: write(d / "inf.cif", CIF_5NI1.read_text().replace(" 45.716 ", " inf ", 1)),
        ModelFormatError,
        id="infinite-coordinate-mmcif",
    ),
]


@pytest.mark.parametrize(("make", "error"), ERROR_CASES)
def test_read_model_errors(tmp_path: Path, make, error: type[InputError]) -> None:
    source = Path(make(tmp_path))
    with pytest.raises(error) as info:
        read_model(source)
    assert type(info.value) is error
    assert_one_line_from(info.value, source)


def test_missing_file_url_error_names_url(tmp_path: Path) -> None:
    url = (tmp_path / "gone.pdb").as_uri()
    with pytest.raises(SourceError) as info:
        read_model(url)
    assert_one_line_from(info.value, url)


def test_larger_than_limit_is_source_error() -> None:
    with pytest.raises(SourceError) as info:
        read_model(PDB_5ME2, max_bytes=1000)
    assert_one_line_from(info.value, PDB_5ME2)
    assert "1000" in str(info.value)


def test_ca_xyz_on_ligand_only_model(tmp_path: Path) -> None:
    """Haem plus a calcium ion: atoms exist, but no amino-acid Cα."""
    text = (
        atom_line(1, "FE  ", "HEM", "A", 201, (0.0, 0.0, 0.0), "FE", het=True)
        + atom_line(2, " CHA", "HEM", "A", 201, (1.0, 0.0, 0.0), "C", het=True)
        + atom_line(3, "CA  ", "CA", "A", 202, (5.0, 0.0, 0.0), "CA", het=True)
        + "END\n"
    )
    path = write(tmp_path / "ligands.pdb", text)
    model = read_model(path)
    assert len(model.atoms()) == 3
    with pytest.raises(EmptyModelError) as info:
        model.ca_xyz()
    assert_one_line_from(info.value, path)


def test_binary_without_zero_bytes_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.pdb"
    path.write_bytes(bytes(range(1, 256)) * 40)
    with pytest.raises(ModelFormatError, match="binary content"):
        read_model(path)


def test_nan_coordinates_are_refused_naming_the_atom(tmp_path: Path) -> None:
    text = backbone("A", 1, "ALA", 0.0) + backbone("B", 7, "GLY", 5.0)
    path = write(tmp_path / "nan.pdb", text.replace("   5.000", "     nan"))
    with pytest.raises(
        ModelFormatError, match=r"atoms have NaN or infinite coordinates \(first: chain B residue GLY 7"
    ):
        read_model(path)
