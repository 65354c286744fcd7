"""Cα candidates from predicted probability maps, clustered into HMM states (Cryo2Struct).

Candidates are the voxels whose Cα probability exceeds the threshold (0.4); voxel ``(k, j, i)``
lies at ``origin + (i, j, k) * voxel_size``. Clustering is Cryo2Struct's leader clustering: take
the next unassigned candidate as a leader and give it every unassigned candidate within the
radius (2 Å; 3 Å in Cryo2Struct2); a cluster's position, amino-acid probabilities and Cα
probability are the means over its members. Leaders are taken in decreasing Cα probability
(ties: voxel order), so they sit on probability peaks; the published code takes them in file
order. Neighbours come from a KD-tree, so clustering costs O(candidates × neighbours).

For a regressed Cα heatmap, :func:`local_maxima` first keeps only the candidates that are the
heatmap's peaks (see :class:`~cryoray.modelbuild.config.CandidateConfig`).
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.spatial import cKDTree

from cryoray.io.density_map import DensityMap
from cryoray.modelbuild.config import CandidateConfig
from cryoray.modelbuild.errors import StatesFormatError
from cryoray.modelbuild.states import HmmStates

__all__ = ["candidates_from_maps", "cluster_candidates", "local_maxima", "states_from_maps"]

#: the 26 neighbours of a voxel
_NEIGHBOURS = np.array([(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) if a or b or c])


def candidates_from_maps(
    ca_prob: DensityMap, aa_probs: np.ndarray, *, threshold: float = 0.4, peaks_only: bool = False
) -> HmmStates:
    """Every voxel with P(Cα) > ``threshold`` as an (unclustered) state; with ``peaks_only``, only
    those that are :func:`local_maxima`.

    Args:
        ca_prob: Cα probability map.
        aa_probs: ``(20, nz, ny, nx)`` amino-acid probabilities on the same grid, channels in
            the order ``A R N D C Q E G H I L K M F P S T W Y V`` (drop a background channel first).
        threshold: the Cα probability a candidate must exceed.

    Raises:
        StatesFormatError: ``aa_probs`` does not match the map's grid, or no voxel passes.
    """
    aa_probs = np.asarray(aa_probs)
    if aa_probs.shape != (20, *ca_prob.data.shape):
        raise StatesFormatError(
            "<aa_probs>", f"expected shape (20, {', '.join(map(str, ca_prob.data.shape))}), got {aa_probs.shape}"
        )
    index = np.argwhere(ca_prob.data > threshold)
    if peaks_only:
        index = index[local_maxima(index, ca_prob.data[tuple(index.T)])]
    if len(index) == 0:
        raise StatesFormatError("<ca_prob>", f"no voxel has a Cα probability above {threshold}")
    xyz = ca_prob.frame.index_to_xyz(index)
    aa = aa_probs[:, index[:, 0], index[:, 1], index[:, 2]].T
    return HmmStates.validated(
        xyz, aa, ca_prob.data[index[:, 0], index[:, 1], index[:, 2]], source="<probability maps>"
    )


def local_maxima(index: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Which of the voxels ``index`` (``(K, 3)`` grid indices) no neighbour among them exceeds.

    Only the voxels above a threshold are ever kept (the whole map's scores are not held), so
    the maxima are found among them: a voxel left out is below every kept one and cannot
    matter. Written here because scipy's maximum filter needs the dense grid; this looks up the
    26 neighbours in the sorted voxel keys, O(26 K log K). Plateaus keep all their voxels
    (clustering then merges them).
    """
    index = np.asarray(index, dtype=np.int64)
    keep = np.ones(len(index), dtype=bool)
    if len(index) == 0:
        return keep
    low = index.min(axis=0) - 1
    shape = tuple(index.max(axis=0) - low + 2)
    keys = np.ravel_multi_index((index - low).T, shape)
    order = np.argsort(keys)
    sorted_keys, sorted_values = keys[order], np.asarray(value)[order]
    for offset in _NEIGHBOURS:
        neighbour = np.ravel_multi_index((index - low + offset).T, shape)
        at = np.minimum(np.searchsorted(sorted_keys, neighbour), len(keys) - 1)
        keep &= ~((sorted_keys[at] == neighbour) & (sorted_values[at] > value))
    return keep


@numba.njit(cache=True, nogil=True)
def _leaders(order, ptr, nbr):  # pragma: no cover - compiled
    label = np.full(len(order), -1, dtype=np.int64)
    n_clusters = 0
    for leader in order:
        if label[leader] >= 0:
            continue
        label[leader] = n_clusters
        for e in range(ptr[leader], ptr[leader + 1]):
            if label[nbr[e]] < 0:
                label[nbr[e]] = n_clusters
        n_clusters += 1
    return label, n_clusters


def cluster_candidates(candidates: HmmStates, *, radius: float = 2.0) -> HmmStates:
    """Leader clustering of candidates within ``radius`` Å; each cluster becomes one state (means)."""
    if not radius > 0:
        raise ValueError(f"`radius` must be positive, got {radius}")
    n = len(candidates)
    pairs = cKDTree(candidates.xyz).query_pairs(radius, output_type="ndarray")
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    by_src = np.argsort(src, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=ptr[1:])
    order = np.lexsort((np.arange(n), -candidates.ca_prob))
    label, k = _leaders(order, ptr, dst[by_src].astype(np.int64))
    count = np.bincount(label, minlength=k).astype(np.float64)

    def mean(values: np.ndarray) -> np.ndarray:
        columns = values.reshape(n, -1)
        out = np.stack(
            [np.bincount(label, weights=columns[:, c], minlength=k) for c in range(columns.shape[1])], axis=1
        )
        return (out / count[:, None]).reshape(k, *values.shape[1:])

    return HmmStates(xyz=mean(candidates.xyz), aa_probs=mean(candidates.aa_probs), ca_prob=mean(candidates.ca_prob))


def states_from_maps(ca_prob: DensityMap, aa_probs: np.ndarray, config: CandidateConfig | None = None) -> HmmStates:
    """Candidates above the threshold, clustered: the HMM states of a predicted map."""
    config = (config or CandidateConfig()).with_defaults()
    candidates = candidates_from_maps(ca_prob, aa_probs, threshold=config.threshold, peaks_only=config.local_maxima)
    return cluster_candidates(candidates, radius=config.cluster_radius)
