"""Model building without a network: density peaks as Cα candidates, threaded with uniform amino acids.

The yardstick every trained Cα/amino-acid classifier must beat: the map is put on a 1 Å grid,
its local maxima (3×3×3 neighbourhood) above ``mean + sigma × std`` become candidates, they are
clustered as network candidates are (2 Å leader clustering), and the sequences are threaded
through them with the same amino-acid probability for every residue type, so only the chain's
geometry (3.8 Å Cα–Cα steps) places residues. The candidates' Cα "probability" is the peak's
height above the threshold, scaled to (0, 1]: it orders the cluster leaders and goes into the
B-factors as a network's P(Cα) does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cryoray.io.density_map import DensityMap
from cryoray.modelbuild.candidates import cluster_candidates
from cryoray.modelbuild.config import BuildConfig
from cryoray.modelbuild.errors import StatesFormatError
from cryoray.modelbuild.states import HmmStates
from cryoray.modelbuild.threading import ThreadingResult, thread_chains
from cryoray.preprocessing.resample import resample

__all__ = ["PEAK_SIGMA", "PeakBuild", "build_from_peaks", "peak_candidates"]

#: Peaks below the map's mean plus this many standard deviations are noise.
PEAK_SIGMA = 2.0


def peak_candidates(density: DensityMap, *, sigma: float = PEAK_SIGMA, source: object = "map") -> HmmStates:
    """Local maxima of ``density`` above ``mean + sigma × std``, as unclustered states with uniform amino acids.

    Raises:
        StatesFormatError: no local maximum reaches the level (the message gives the map's highest σ).
    """
    data = density.data
    mean, std = float(data.mean(dtype=np.float64)), float(data.std(dtype=np.float64))
    level = mean + sigma * std
    peaks = (data == ndimage.maximum_filter(data, size=3, mode="nearest")) & (data > level)
    index = np.argwhere(peaks)
    if len(index) == 0:
        highest = (float(data.max()) - mean) / std if std > 0 else 0.0
        raise StatesFormatError(
            source, f"no density peak above {sigma:g} σ (the highest voxel is at {highest:.2f} σ); lower --peak-sigma"
        )
    height = data[tuple(index.T)].astype(np.float64) - level
    ca_prob = np.clip(height / height.max(), 1e-3, 1.0)
    uniform = np.full((len(index), 20), 1.0 / 20)
    return HmmStates.validated(density.frame.index_to_xyz(index), uniform, ca_prob, source=f"{source}: density peaks")


@dataclass(frozen=True)
class PeakBuild:
    """A model built from density peaks, with its candidate and state counts."""

    result: ThreadingResult
    candidates: int
    states: int
    sigma: float
    voxel_size: float

    def to_dict(self) -> dict[str, object]:
        return {
            "candidates_from": "peaks",
            "peak_sigma": self.sigma,
            "voxel_size": self.voxel_size,
            "candidates": self.candidates,
            "states_clustered": self.states,
        } | self.result.to_dict()


def build_from_peaks(
    density: DensityMap,
    chains: Sequence[tuple[str, str]],
    build: BuildConfig | None = None,
    *,
    sigma: float = PEAK_SIGMA,
    voxel_size: float = 1.0,
    source: object = "map",
) -> PeakBuild:
    """Thread ``(chain_id, sequence)`` pairs through the density peaks of ``density`` resampled to ``voxel_size`` Å.

    ``build`` gives the clustering radius (default 2 Å) and the threading settings; its
    candidate threshold is not used (the peaks' level is ``sigma``).
    """
    if not (np.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"`sigma` must be a finite number >= 0, got {sigma}")
    build = build or BuildConfig()
    candidates = build.candidates.with_defaults()
    on_grid = resample(density, voxel_size, source=source)
    peaks = peak_candidates(on_grid, sigma=sigma, source=source)
    states = cluster_candidates(peaks, radius=candidates.cluster_radius)
    result = thread_chains(states, chains, build.threading)
    return PeakBuild(result, len(peaks), len(states), sigma, voxel_size)
