"""Cα candidates → HMM states: what every model-building front end does once the map is stitched.

The stitched :func:`~cryoray.infer.channels.build_channels` (P(Cα), then 20 amino-acid
probabilities) go to a :func:`candidate_sink` that keeps only voxels with P(Cα) above
``build.candidates.threshold``; :func:`clustered_states` keeps their local maxima (for a
heatmap head), renormalises their amino-acid rows,
places them in Å on the prepared grid and clusters them (``cluster_radius``) into HMM states.
"""

from __future__ import annotations

import numpy as np

from cryoray.infer.channels import AMINO_ACIDS
from cryoray.infer.stitching import CandidateSink
from cryoray.io.density_map import GridFrame
from cryoray.modelbuild import BuildConfig, HmmStates, StatesFormatError, cluster_candidates, local_maxima

__all__ = ["candidate_sink", "clustered_states"]


def candidate_sink(build: BuildConfig) -> CandidateSink:
    """A sink of the build channels that keeps voxels with P(Cα) above the threshold, and their amino-acid rows."""
    return CandidateSink(0, build.candidates.with_defaults().threshold, AMINO_ACIDS)


def clustered_states(
    sink: CandidateSink, frame: GridFrame, build: BuildConfig, *, source: object = "map"
) -> tuple[HmmStates, int]:
    """``(states, number of candidates)`` from a filled :func:`candidate_sink` on the prepared ``frame``.

    Raises:
        StatesFormatError: no voxel has P(Cα) above the threshold (the message gives the highest).
    """
    candidates = build.candidates.with_defaults()
    threshold = candidates.threshold
    index, ca_prob, aa = sink.result()
    if candidates.local_maxima:
        peak = local_maxima(index, ca_prob)
        index, ca_prob, aa = index[peak], ca_prob[peak], aa[peak]
    if len(index) == 0:
        raise StatesFormatError(
            source,
            f"no voxel has P(Cα) > {threshold} (highest: {sink.highest:.3f}); nothing to build from: "
            "lower build.candidates.threshold, or use a better-trained model",
        )
    # The 20 amino-acid classes without "none", renormalised (rows of zeros stay uniform in the HMM).
    total = aa.sum(axis=1, keepdims=True)
    aa = np.divide(aa, total, out=np.zeros_like(aa), where=total > 0)
    # A regressed Cα heatmap (not a softmax) can overshoot 1 at a peak; it is a score, capped to a probability.
    states = HmmStates.validated(
        frame.index_to_xyz(index), aa, np.clip(ca_prob, 0.0, 1.0), source=f"{source}: Cα candidates (P > {threshold})"
    )
    return cluster_candidates(states, radius=candidates.cluster_radius), len(states)
