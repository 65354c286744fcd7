"""Cα candidates from probability maps and their leader clustering."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cryoray.io import DensityMap, GridFrame
from cryoray.modelbuild import (
    CandidateConfig,
    HmmStates,
    StatesFormatError,
    candidates_from_maps,
    cluster_candidates,
    local_maxima,
    states_from_maps,
)


def _blob_maps(centres_ijk: np.ndarray, frame: GridFrame) -> tuple[DensityMap, np.ndarray]:
    """P(Cα) peaks of 0.9 at voxel centres, each blob's amino acid = its index (mod 20)."""
    k, j, i = np.indices(frame.shape)
    ca = np.zeros(frame.shape)
    aa = np.zeros((20, *frame.shape))
    for n, (ci, cj, ck) in enumerate(centres_ijk):
        d2 = ((i - ci) ** 2 + (j - cj) ** 2 + (k - ck) ** 2) * frame.voxel_size[0] ** 2
        blob = 0.9 * np.exp(-d2 / 2.0)
        ca = np.maximum(ca, blob)
        aa[n % 20] += blob > 0.4
    aa[:, ca <= 0.4] = 1 / 20
    return DensityMap(ca.astype(np.float32), frame), aa


def test_blobs_become_one_state_each_at_their_centre() -> None:
    frame = GridFrame((20, 24, 28), voxel_size=(0.8, 0.8, 0.8), origin=(10.0, -5.0, 3.0))
    centres = np.array([[5, 6, 7], [15, 6, 7], [20, 18, 12], [8, 16, 14]])  # (i, j, k)
    ca, aa = _blob_maps(centres, frame)
    candidates = candidates_from_maps(ca, aa, threshold=0.4)
    assert len(candidates) > 4 * 5
    states = states_from_maps(ca, aa, CandidateConfig(threshold=0.4, cluster_radius=2.0))
    assert len(states) == 4
    expected = np.asarray(frame.origin) + centres * 0.8
    order = np.argsort(states.xyz[:, 0] * 1000 + states.xyz[:, 1])
    np.testing.assert_allclose(
        states.xyz[order], expected[np.argsort(expected[:, 0] * 1000 + expected[:, 1])], atol=1e-9
    )
    assert np.all(states.aa_probs.max(axis=1) == pytest.approx(1.0))
    assert np.all(states.ca_prob > 0.4)


def test_leader_clustering_matches_the_published_loop() -> None:
    """Same clusters as the O(N²) loop of Cryo2Struct, leaders taken by decreasing probability."""
    rng = np.random.default_rng(0)
    xyz = rng.uniform(0, 12, (400, 3))
    prob = rng.uniform(0.4, 1.0, 400)
    cand = HmmStates.validated(xyz, rng.dirichlet(np.ones(20), 400), prob)
    ours = cluster_candidates(cand, radius=2.0)
    remaining = list(np.argsort(-prob, kind="stable"))
    clusters = []
    while remaining:
        leader = remaining.pop(0)
        members = [leader] + [p for p in remaining if np.linalg.norm(xyz[p] - xyz[leader]) <= 2.0]
        remaining = [p for p in remaining if p not in members]
        clusters.append(members)
    reference = np.array([xyz[m].mean(axis=0) for m in clusters])
    assert len(ours) == len(clusters)
    np.testing.assert_allclose(ours.xyz, reference, atol=1e-12)
    np.testing.assert_allclose(ours.ca_prob, [prob[m].mean() for m in clusters], atol=1e-12)


def test_bad_probability_maps() -> None:
    frame = GridFrame((6, 6, 6), voxel_size=(1.0, 1.0, 1.0))
    ca = DensityMap(np.zeros((6, 6, 6), np.float32), frame)
    with pytest.raises(StatesFormatError, match=r"no voxel has a Cα probability above 0\.4"):
        candidates_from_maps(ca, np.zeros((20, 6, 6, 6)))
    with pytest.raises(StatesFormatError, match="expected shape \\(20, 6, 6, 6\\)"):
        candidates_from_maps(ca, np.zeros((21, 6, 6, 6)))


def test_local_maxima_of_kept_voxels_match_scipys_on_the_dense_grid() -> None:
    rng = np.random.default_rng(5)
    score = ndimage.gaussian_filter(rng.random((18, 20, 22)), 1.5)
    score[3, 4, 5] = score[3, 4, 6] = score.max() + 1  # a plateau keeps both voxels
    threshold = np.quantile(score, 0.7)
    index = np.argwhere(score > threshold)
    kept = local_maxima(index, score[tuple(index.T)])
    # voxels at or below the threshold are below every kept one: the dense filter agrees
    dense = score == ndimage.maximum_filter(score, size=3, mode="constant", cval=-np.inf)
    np.testing.assert_array_equal(kept, dense[tuple(index.T)])
    assert 0 < kept.sum() < len(index) / 10 and kept[np.all(index == (3, 4, 5), axis=1)].all()
    assert local_maxima(np.zeros((0, 3), np.int64), np.zeros(0)).shape == (0,)


def test_local_maxima_give_one_state_per_heatmap_peak_where_blobs_merge() -> None:
    frame = GridFrame((16, 16, 30), voxel_size=(1.0, 1.0, 1.0))
    centres = np.array([[5, 8, 8], [9, 8, 8], [13, 8, 8], [17, 8, 8], [21, 8, 8]])  # a chain 4 Å apart
    k, j, i = np.indices(frame.shape)
    heat = np.zeros(frame.shape)
    for ci, cj, ck in centres:  # broad blobs (σ 1.6 Å): one region above 0.4 along the chain
        heat = np.maximum(heat, 0.9 * np.exp(-((i - ci) ** 2 + (j - cj) ** 2 + (k - ck) ** 2) / (2 * 1.6**2)))
    heat += 0.1 * np.exp(-((i - 13) ** 2) / 200)  # a gentle slope along the chain
    ca = DensityMap(heat.astype(np.float32), frame)
    aa = np.full((20, *frame.shape), 1 / 20)
    whole = states_from_maps(ca, aa, CandidateConfig(threshold=0.4, cluster_radius=2.0, local_maxima=False))
    peaks = states_from_maps(ca, aa, CandidateConfig(threshold=0.4, cluster_radius=2.0, local_maxima=True))
    assert len(whole) > len(centres)  # leaders 2 Å apart split the blobs
    assert len(peaks) == len(centres)
    np.testing.assert_allclose(np.sort(peaks.xyz[:, 0]), centres[:, 0], atol=0.6)
