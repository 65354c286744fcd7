"""Q-scores (MapQ's rules): synthetic Gaussians, 5ME2 in its own simulated map and in EMD-3488, aggregation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from cryoray.errors import ConfigError, EmptyModelError
from cryoray.io import read_map
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.io.models import AtomicModel, read_model
from cryoray.labels.simulate import simulate_map
from cryoray.metrics.fit import values_at
from cryoray.metrics.qscore import _unit_sphere, atom_q_scores, expected_q_score, q_score, summarise_q_scores
from tests.support.data import REAL_MAPS, real


@pytest.fixture(scope="module")
def emd_3488() -> DensityMap:
    return read_map(real(REAL_MAPS["3488"]))


@pytest.fixture(scope="module")
def model() -> AtomicModel:
    return read_model(real("EMD-3488_5ME2_haemoglobin/5me2.pdb"))


def gaussians(frame: GridFrame, centres: np.ndarray, sigma: float = 0.6) -> DensityMap:
    """A map holding one Gaussian of width ``sigma`` Å per centre."""
    index = np.stack(np.meshgrid(*(np.arange(n) for n in frame.shape), indexing="ij"), axis=-1)
    position = frame.index_to_xyz(index)
    data = sum(np.exp(-((position - c) ** 2).sum(axis=-1) / (2 * sigma**2)) for c in centres)
    return DensityMap(data=data.astype(np.float32), frame=frame)


def test_sphere_points_are_unit_vectors_from_pole_to_pole() -> None:
    for n in (8, 30, 106):
        points = _unit_sphere(n)
        np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(points[[0, -1]], [[0, 0, -1], [0, 0, 1]], atol=1e-12)
        gaps = np.linalg.norm(points[:, None] - points[None], axis=-1) + 2 * np.eye(n)
        assert gaps.min() > 1.5 / np.sqrt(n)  # evenly spread: no two points bunched together


def test_an_atom_in_its_own_reference_gaussian_scores_one() -> None:
    """Two atoms 1.5 Å apart, each a σ = 0.6 Å Gaussian: points within 0.9·R of the neighbour are dropped,
    so each atom still sees (nearly) its own Gaussian. Keeping those points would give Q ≈ 0.95."""
    frame = GridFrame(shape=(60, 60, 60), voxel_size=(0.2, 0.2, 0.2))
    centre = np.asarray(frame.upper) / 2
    alone = atom_q_scores(gaussians(frame, [centre]), centre[None])
    assert alone[0] == pytest.approx(1.0, abs=1e-3)
    pair = np.stack([centre, centre + np.array([1.5, 0.0, 0.0])])
    assert np.all(atom_q_scores(gaussians(frame, pair), pair) > 0.98)


def test_5me2_scores_high_in_its_own_map_at_1_5_angstrom(emd_3488: DensityMap, model: AtomicModel) -> None:
    atoms = model.atoms()
    report = q_score(simulate_map(atoms, emd_3488.frame, 1.5), atoms)
    assert report.overall >= 0.8
    assert report.n_atoms == len(atoms) == 4468
    assert all(q >= 0.8 for q in report.chains.values())


def test_5me2_in_emd_3488_near_the_expected_q_and_shifted_model_low(emd_3488: DensityMap, model: AtomicModel) -> None:
    placed = q_score(emd_3488, model.atoms())
    assert placed.overall == pytest.approx(expected_q_score(3.2), abs=0.1)  # 0.59 against 0.55 expected
    assert list(placed.chains) == ["A", "B", "C", "D"]
    residues = placed.residues
    assert len(residues) == 570  # 566 amino acids and 4 haem groups
    assert np.nanmean(residues.q_backbone) > np.nanmean(residues.q_side_chain)  # side chains are less resolved
    glycine, haem = residues.residue_name == "GLY", residues.residue_name == "HEM"
    assert np.isnan(residues.q_side_chain[glycine]).all() and np.isnan(residues.q_backbone[haem]).all()
    shifted = q_score(emd_3488, model.translated((20.0, 0.0, 0.0)).atoms())
    assert abs(shifted.overall) < 0.1


def test_residue_chain_and_overall_are_means_over_atoms() -> None:
    q = np.array([0.8, 0.6, 0.4, np.nan, 0.2, 0.9])
    report = summarise_q_scores(
        q,
        chain=["B", "B", "B", "B", "A", "A"],
        seq_id=[7, 7, 7, 7, 1, 1],
        residue_name=["SER"] * 4 + ["GLY"] * 2,
        atom_name=["N", "CA", "CB", "OG", "CA", "O"],
    )
    r = report.residues
    assert r.chain.tolist() == ["B", "A"] and r.seq_id.tolist() == [7, 1]  # model order
    np.testing.assert_allclose(r.q, [0.6, 0.55])
    np.testing.assert_allclose(r.q_backbone, [0.7, 0.55])
    np.testing.assert_allclose(r.q_side_chain[:1], [0.4])
    assert np.isnan(r.q_side_chain[1])
    assert report.chains == pytest.approx({"B": 0.6, "A": 0.55})
    assert report.overall == pytest.approx(0.58) and report.n_atoms == 5
    assert report.to_dict()["per_residue"][1]["q_side_chain"] is None
    with pytest.raises(ValueError, match="per-atom array"):
        summarise_q_scores(q[:2], chain=["A"], seq_id=[1], residue_name=["GLY"], atom_name=["CA"])


def test_expected_q_at_two_resolutions() -> None:
    assert expected_q_score(2.0) == pytest.approx(0.7642)
    assert expected_q_score(4.0) == pytest.approx(0.4092)
    assert expected_q_score(20.9) is None  # the line is below 0 there: no expectation
    with pytest.raises(ConfigError, match="resolution"):
        expected_q_score(-1.0)


def test_a_model_of_hydrogens_only_is_refused(emd_3488: DensityMap, model: AtomicModel) -> None:
    atoms = model.atoms().select(np.arange(3))
    hydrogens = type(atoms)(**{**vars(atoms), "atomic_number": np.ones(3, dtype=np.int16)})
    with pytest.raises(EmptyModelError, match="no non-hydrogen"):
        q_score(emd_3488, hydrogens, source="h.pdb")


def test_per_residue_q_follows_the_fit_checks_sigma_at_ca(emd_3488: DensityMap, model: AtomicModel) -> None:
    """Residues whose Cα sits on strong density (the fit check's σ) have higher Q: rank correlation 0.58 on 5ME2."""
    atoms = model.atoms()
    residues = q_score(emd_3488, atoms).residues
    ca = atoms.select(atoms.is_ca)
    row = {(c, n): i for i, (c, n) in enumerate(zip(residues.chain, residues.seq_id, strict=True))}
    q = residues.q[[row[(c, n)] for c, n in zip(ca.chain, ca.seq_id, strict=True)]]
    stats = emd_3488.stats()
    sigma = (values_at(emd_3488, ca.xyz) - stats["mean"]) / stats["std"]
    assert spearmanr(q, sigma).statistic > 0.45
