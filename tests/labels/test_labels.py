"""Voxel labels, secondary structure and simulated maps on real maps and tiny hand-made models."""

from __future__ import annotations

import dataclasses
import importlib
import math

import gemmi
import numpy as np
import pytest

from cryoray.errors import MapTooLargeError, ModelFormatError
from cryoray.io import GridFrame, read_map
from cryoray.io.models import AtomicModel, read_model
from cryoray.labels import (
    amino_acid_labels,
    atom_labels,
    atom_type_labels,
    denoise_class_labels,
    denoise_regression_target,
    secondary_structure,
    secondary_structure_labels,
    simulate_map,
)
from cryoray.labels.secondary_structure import DSSP_TIMEOUT_S, HELIX, STRAND
from cryoray.labels.simulate import MOLECULE_FRACTION, add_noise, frame_around, gaussian_width
from cryoray.preprocessing import PrepareConfig, prepare_map
from tests.support.data import REAL_MAPS, real

HB = "EMD-3488_5ME2_haemoglobin/"


@pytest.fixture(scope="module")
def hb() -> tuple:
    """EMD-3488 on its prepared 1 Å grid (not normalised) and the 5ME2 model."""
    density, _ = prepare_map(read_map(real(REAL_MAPS["3488"])), PrepareConfig(normalize=False))
    model = read_model(real(HB + "5me2.pdb"))
    return density, model, model.atoms()


def _sigma(density, mask) -> float:
    stats = density.stats()
    return float((density.data[mask].mean() - stats["mean"]) / stats["std"])


def test_atom_labels_sit_on_density(hb) -> None:
    density, _, atoms = hb
    labels = atom_labels(density.frame, atoms)
    counts = np.bincount(labels.ravel(), minlength=4)
    assert counts[1] == 566  # every Cα has its own voxel at 1 Å
    assert counts[2] >= 560 and counts[3] >= 560
    assert _sigma(density, labels == 1) > 5.0
    assert _sigma(density, labels == 0) < 0.1


def test_amino_acid_labels_match_sequence_composition(hb) -> None:
    density, _, atoms = hb
    labels = amino_acid_labels(density.frame, atoms)
    counts = np.bincount(labels.ravel(), minlength=21)
    assert counts[1:].sum() == 566
    assert counts[10] == 0  # human haemoglobin has no isoleucine (label 10 = ILE)
    assert counts[1] == 72 and counts[11] == 72  # ALA and LEU
    np.testing.assert_array_equal(labels > 0, atom_labels(density.frame, atoms) == 1)


def test_amino_acid_labels_within_a_radius_take_the_nearest_ca(hb) -> None:
    from scipy.spatial import cKDTree

    density, _, atoms = hb
    frame = density.frame
    at_ca = amino_acid_labels(frame, atoms)
    labels = amino_acid_labels(frame, atoms, radius=1.5)
    labelled = np.argwhere(labels > 0)
    # about the voxels of a 1.5 Å ball (14 at 1 Å) per residue, every Cα voxel unchanged
    assert 10 * 566 < len(labelled) < 20 * 566
    np.testing.assert_array_equal(labels[at_ca > 0], at_ca[at_ca > 0])
    ca = atoms.select(atoms.is_ca)
    distance, nearest = cKDTree(ca.xyz).query(frame.index_to_xyz(labelled))
    assert distance.max() <= 1.5 + 1e-9
    # each voxel holds its nearest Cα's type (ties aside): the same as painting at that Cα's voxel
    expected = at_ca[tuple(frame.nearest_voxel(ca.xyz[nearest]).T)]
    assert np.mean(labels[tuple(labelled.T)] == expected) > 0.999


def test_secondary_structure_from_annotations_and_dssp(hb) -> None:
    density, model, atoms = hb
    annotated, source = secondary_structure(model)
    assert source == "annotations"
    computed, source = secondary_structure(model, "dssp")
    assert source == "dssp" and len(computed) == 566
    agree = np.mean([annotated.get(k, 1) == v for k, v in computed.items()])
    assert agree > 0.8  # measured 0.88: DSSP helix ends differ from the deposited HELIX records
    labels = secondary_structure_labels(density.frame, atoms, annotated)
    counts = np.bincount(labels.ravel(), minlength=4)
    assert counts[1] + counts[2] + counts[3] == 566 and counts[2] > 400  # mostly helical


def test_denoise_labels(hb) -> None:
    density, _, atoms = hb
    classes = denoise_class_labels(density.frame, atoms, radius=6.0)
    types = atom_type_labels(density.frame, atoms)
    assert set(np.unique(classes)) == {0, 1, 2}
    assert set(np.unique(types)) == {0, 1, 2, 3, 4, 5}
    assert np.all(classes[types > 0] == 1)
    simulated = simulate_map(atoms, density.frame, 3.2)
    target = denoise_regression_target(simulated, atoms, radius=6.0)
    assert np.all(target[classes == 0] == 0)
    np.testing.assert_array_equal(target[classes > 0], simulated.data[classes > 0])


def test_simulated_single_atom_matches_formula() -> None:
    frame = GridFrame((21, 21, 21), (0.5, 0.5, 0.5), (-5.0, -5.0, -5.0))
    st = gemmi.Structure()
    st.add_model(gemmi.Model("1"))
    chain = gemmi.Chain("A")
    residue = gemmi.Residue()
    residue.name, residue.seqid = "HOH", gemmi.SeqId(1, " ")
    atom = gemmi.Atom()
    atom.name, atom.element, atom.pos = "O", gemmi.Element("O"), gemmi.Position(0.3, -0.2, 0.1)
    residue.add_atom(atom)
    chain.add_residue(residue)
    st[0].add_chain(chain)
    atoms = AtomicModel(st, "one-oxygen").atoms()
    sim = simulate_map(atoms, frame, 3.0)
    k = gaussian_width(3.0)
    index = np.array([10, 8, 12])  # z, y, x
    y = frame.index_to_xyz(index)
    d2 = float(np.sum((y - np.array([0.3, -0.2, 0.1])) ** 2))
    expected = (k / math.pi) ** 1.5 * 8 * math.exp(-k * d2)
    assert sim.data[tuple(index)] == pytest.approx(expected, rel=1e-5)
    assert sim.data.sum() * 0.5**3 == pytest.approx(8.0, rel=1e-3)  # integrates to Z


def test_noise_has_the_asked_ratio_no_frequencies_beyond_the_resolution_and_a_seed(hb) -> None:
    _, _, atoms = hb
    clean = simulate_map(atoms, frame_around(atoms), 3.4)
    noisy = add_noise(clean, 1.5, 3.4, seed=1)
    assert noisy.frame.same_as(clean.frame)
    noise = noisy.data.astype(np.float64) - clean.data
    molecule = clean.data > MOLECULE_FRACTION * clean.data.max()
    assert noise.std() / clean.data[molecule].std() == pytest.approx(1.5, rel=1e-3)
    power = np.abs(np.fft.fftn(noise)) ** 2
    freq = np.sqrt(sum(f**2 for f in np.meshgrid(*[np.fft.fftfreq(n) for n in noise.shape], indexing="ij")))
    assert power[freq > 1.1 / 3.4].sum() < 1e-6 * power.sum()  # band-limited at the resolution
    assert np.array_equal(add_noise(clean, 1.5, 3.4, seed=1).data, noisy.data)
    assert not np.array_equal(add_noise(clean, 1.5, 3.4, seed=2).data, noisy.data)
    with pytest.raises(ValueError, match="noise ratio"):
        add_noise(clean, -1.0, 3.4)


def test_simulated_map_correlates_with_experiment(hb) -> None:
    density, _, atoms = hb
    simulated = simulate_map(atoms, density.frame, 3.2)
    assert np.corrcoef(simulated.data.ravel(), density.data.ravel())[0, 1] > 0.5  # measured 0.59
    moved = GridFrame(density.frame.shape, density.voxel_size, tuple(np.add(density.origin, (8.0, 0.0, 0.0))))
    shifted = simulate_map(atoms, moved, 3.2)  # same values, placed 8 Å off
    assert np.corrcoef(shifted.data.ravel(), density.data.ravel())[0, 1] < 0.2


def test_frame_around_covers_atoms() -> None:
    atoms = read_model(real(HB + "5me2.pdb")).atoms()
    frame = frame_around(atoms, 1.0, 5.0)
    assert np.all(frame.contains(atoms.xyz))
    assert all(o % 1.0 == 0 for o in frame.origin)


def test_frame_around_a_placeholder_atom_is_refused_before_allocating() -> None:
    """One atom at 9999.999 Å (a placeholder) would make the box 10020³ voxels: 3.66 TiB."""
    atoms = read_model(real(HB + "5me2.pdb")).atoms()
    xyz = atoms.xyz.copy()
    xyz[-1] = 9999.999
    placeholder = dataclasses.replace(atoms, xyz=xyz)
    with pytest.raises(MapTooLargeError, match=r"above the limit of 1073741824.*placeholder") as info:
        frame_around(placeholder, 1.0, 10.0, source="m.pdb")
    assert str(info.value).startswith("m.pdb: a 1 Å grid around the atoms")
    frame = frame_around(atoms, 1.0, 10.0)
    with pytest.raises(MapTooLargeError, match=f"above the limit of {frame.n_voxels - 1}"):
        frame_around(atoms, 1.0, 10.0, max_voxels=frame.n_voxels - 1)
    assert frame_around(atoms, 1.0, 10.0, max_voxels=frame.n_voxels) == frame


@pytest.mark.parametrize("resolution", [math.inf, math.nan, 1e-300, 0.0, -3.0, 0.49, 51.0])
def test_simulation_needs_a_sane_resolution(resolution) -> None:
    with pytest.raises(ValueError, match=r"from 0\.5 to 50"):
        gaussian_width(resolution)


def test_dssp_reads_chains_with_two_letter_names(tmp_path) -> None:
    """Classic DSSP columns hold one-letter chains: every residue of chain "AA" came back coil."""
    original = read_model(real(HB + "5me2.pdb"))
    renamed = original.structure.clone()
    for chain in renamed[0]:
        chain.name = chain.name * 2  # A -> AA, B -> BB, ...
    renamed.make_mmcif_document().write_file(str(tmp_path / "5me2_long_chains.cif"))
    model = read_model(tmp_path / "5me2_long_chains.cif")
    assert model.chain_names == ["AA", "BB", "CC", "DD"]
    codes, source = secondary_structure(model, "dssp")
    expected, _ = secondary_structure(original, "dssp")
    assert source == "dssp" and len(codes) == len(expected) == 566
    assert codes == {(chain * 2, number, icode): code for (chain, number, icode), code in expected.items()}
    assert sum(code == HELIX for code in codes.values()) == 428  # not all coil
    atoms = model.atoms()
    labels = secondary_structure_labels(frame_around(atoms), atoms, codes)
    assert np.count_nonzero(labels == HELIX) == 428


def test_dssp_strands_and_timeout_constant() -> None:
    codes, _ = secondary_structure(read_model(real("EMD-21457_6VYB_spike-NTD-segment/6vyb_Ndom.pdb")), "dssp")
    assert sum(code == STRAND for code in codes.values()) == 100  # E and B residues, as classic DSSP
    assert 60 <= DSSP_TIMEOUT_S <= 3600


def test_dssp_that_runs_too_long_is_stopped_with_a_clear_error(monkeypatch) -> None:
    module = importlib.import_module(
        "cryoray.labels.secondary_structure"
    )  # the package exports a function by that name
    monkeypatch.setattr(module, "DSSP_TIMEOUT_S", 0.001)
    model = read_model(real(HB + "5me2.pdb"))
    with pytest.raises(ModelFormatError, match=r"5me2\.pdb: DSSP did not finish within 0\.001 s"):
        secondary_structure(model, "dssp")
