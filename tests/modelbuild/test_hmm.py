"""The sparse HMM gives exactly the published dense model's numbers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from cryoray.modelbuild.hmm import MU, PSEUDO, SIGMA_PER_LAMBDA, X_CODE, build_hmm, encode_sequence, neighbour_radius
from tests.support.dense_reference import dense_model, dense_path_score


def _states(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A compact cloud with many pairs near 3.8 Å, duplicated points, and awkward amino-acid rows."""
    xyz = rng.uniform(0, 22, (n, 3))
    xyz[1::7] = xyz[0::7][: len(xyz[1::7])] + 3.8 * rng.normal(size=(len(xyz[1::7]), 3)) / np.sqrt(3)
    xyz[5] = xyz[4]  # two states at the same place
    aa = rng.dirichlet(np.full(20, 0.3), n) * rng.uniform(0.2, 1.0, (n, 1))  # rows not summing to 1
    aa[3] = 0.0  # no information
    aa[6, 2] = 1.0
    aa[6, 3:] = 0.0
    return xyz, aa


@pytest.mark.parametrize("std_lambda", [1.0, 10.0, 25.0], ids=["lambda1", "lambda10", "lambda25"])
def test_every_transition_and_emission_equals_the_dense_model(std_lambda: float) -> None:
    rng = np.random.default_rng(0)
    xyz, aa = _states(rng, 240)
    model = build_hmm(xyz, aa, std_lambda=std_lambda)
    log_trans, log_emit = dense_model(xyz, aa, std_lambda)
    i, j = np.meshgrid(np.arange(len(xyz)), np.arange(len(xyz)), indexing="ij")
    sparse = model.log_transition(i.ravel(), j.ravel()).reshape(i.shape)
    np.testing.assert_allclose(sparse, log_trans, rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.log_emit, log_emit, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.exp(log_trans).sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_path_scores_equal_the_dense_definition(seed: int) -> None:
    """Random paths, with repeats, self-transitions, far jumps and unknown residues."""
    rng = np.random.default_rng(seed)
    xyz, aa = _states(rng, 150)
    model = build_hmm(xyz, aa)
    log_trans, log_emit = dense_model(xyz, aa)
    for length in (1, 2, 17, 300):
        codes = rng.integers(0, 21, length)
        path = rng.integers(0, len(xyz), length)
        if length > 3:
            path[2] = path[1]  # self-transition
        ours = model.path_log_score(codes, path)
        assert ours == pytest.approx(dense_path_score(log_trans, log_emit, codes, path), abs=1e-9)


def test_start_follows_the_first_residue_emission() -> None:
    rng = np.random.default_rng(1)
    xyz, aa = _states(rng, 60)
    model = build_hmm(xyz, aa)
    start = model.log_start(4)
    assert np.exp(start).sum() == pytest.approx(1.0, abs=1e-12)
    assert np.argmax(start) == np.argmax(model.log_emit[:, 4])
    np.testing.assert_allclose(model.log_start(X_CODE), -np.log(60))


def test_beyond_the_neighbour_radius_every_entry_is_the_pseudocount() -> None:
    for std_lambda in (1.0, 10.0, 40.0):
        sigma = SIGMA_PER_LAMBDA * std_lambda
        d = neighbour_radius(sigma) + np.array([0.0, 0.01, 1.0, 10.0])
        assert np.all(scipy.stats.norm(MU, sigma).pdf(d) + PSEUDO == PSEUDO)


def test_far_transitions_are_one_constant_per_row() -> None:
    xyz = np.array([[0.0, 0, 0], [3.8, 0, 0], [40.0, 0, 0], [80.0, 0, 0]])
    model = build_hmm(xyz, np.full((4, 20), 0.05))
    row = model.log_transition([0, 0, 0], [1, 2, 3])
    assert row[1] == row[2] == model.log_far[0] < row[0]


def test_encode_sequence_codes_and_rejects_unclean_letters() -> None:
    np.testing.assert_array_equal(encode_sequence("ARX"), [0, 1, X_CODE])
    with pytest.raises(ValueError, match="'B'"):
        encode_sequence("AB")
