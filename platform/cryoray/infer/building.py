"""Model building from a map: Cα and amino-acid probabilities → candidates → HMM states → threading.

Memory stays bounded by boxes: the stitched predictions never exist as whole maps. Stitched
sections go to a :class:`~cryoray.infer.stitching.CandidateSink` that keeps only the voxels
with P(Cα) above the threshold (0.4), with their 20 amino-acid probabilities (the background
channel dropped); those are clustered (2 Å) into HMM states and the sequences are threaded
through them (:mod:`cryoray.modelbuild`).

The Cα probability comes from the head trained on the ``atom`` label (class ``CA``), the
amino-acid probabilities from the head trained on ``amino_acid``: one model with both heads
(Cryo2Struct2's SegFormer3D) or two models (Cryo2Struct's atom and amino-acid UNETRs).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cryoray.errors import ConfigError
from cryoray.infer.config import InferConfig
from cryoray.infer.inputs import HalfMapMode, prepare_input
from cryoray.infer.predictor import Predictor
from cryoray.infer.stitching import CandidateSink, TilePlan, blend_weights
from cryoray.infer.whole_map import InferenceStats, OutputChannel, run_plan, tiling_for
from cryoray.io.density_map import DensityMap
from cryoray.modelbuild import BuildConfig, HmmStates, StatesFormatError, cluster_candidates, thread_chains
from cryoray.modelbuild.threading import ThreadingResult
from cryoray.preprocessing.config import MaskConfig, PrepareConfig

__all__ = ["BuildReport", "build_channels", "build_from_map", "predict_states"]


@dataclass(frozen=True)
class BuildReport:
    """A built model and how it was reached."""

    result: ThreadingResult
    candidates: int
    states: int
    stats: InferenceStats

    def to_dict(self) -> dict[str, object]:
        return {
            "candidates": self.candidates,
            "states_clustered": self.states,
            "inference": self.stats.to_dict(),
        } | self.result.to_dict()


def build_channels(predictors: Sequence[Predictor]) -> list[OutputChannel]:
    """P(Cα) first, then the 20 amino-acid probabilities (order A R N D … V).

    Raises:
        ConfigError: no head trained on ``atom`` (with a ``CA`` class) or on ``amino_acid``.
    """
    found: dict[str, tuple[int, object]] = {}
    for index, predictor in enumerate(predictors):
        for label in ("atom", "amino_acid"):
            head = predictor.head_for_label(label)
            if head is not None and label not in found:
                found[label] = (index, head)
    missing = [label for label in ("atom", "amino_acid") if label not in found]
    if missing:
        raise ConfigError(
            "--model", f"model building needs heads trained on {missing}; give a model with them (or --amino-model)"
        )
    atom_index, atom = found["atom"]
    aa_index, aa = found["amino_acid"]
    if "CA" not in atom.class_names or aa.channels != 21:  # type: ignore[union-attr]
        raise ConfigError("--model", "the atom head needs a CA class and the amino-acid head 21 classes (none + 20)")
    ca = OutputChannel(atom_index, atom.name, atom.class_names.index("CA"), f"{atom.name}_CA", True)  # type: ignore[union-attr]
    amino = [
        OutputChannel(aa_index, aa.name, c, f"{aa.name}_{aa.class_names[c]}", True)  # type: ignore[union-attr]
        for c in range(1, 21)
    ]
    return [ca, *amino]


def predict_states(
    density: DensityMap | Sequence[DensityMap],
    predictors: Predictor | Sequence[Predictor],
    config: InferConfig | None = None,
    build: BuildConfig | None = None,
    *,
    halves: HalfMapMode = "average",
    mask: MaskConfig | None = None,
    source: object = "map",
) -> tuple[HmmStates, int, InferenceStats]:
    """Cα candidates of a map, clustered: ``(states, candidates, stats)``.

    Raises:
        ConfigError: missing heads (see :func:`build_channels`).
        StatesFormatError: no voxel has P(Cα) above the threshold.
    """
    config = config or InferConfig()
    build = build or BuildConfig()
    predictors = [predictors] if isinstance(predictors, Predictor) else list(predictors)
    channels = build_channels(predictors)
    tiling = tiling_for(predictors, config)
    prepare = PrepareConfig(
        voxel_size=config.voxel_size, order=config.order, percentile=config.percentile_for(False), mask=mask
    )
    t0 = time.perf_counter()
    prepared = prepare_input(density, prepare, halves=halves, source=source)
    t_prepare = time.perf_counter() - t0
    plan = TilePlan.for_shape(prepared.density.data.shape, tiling)
    sink = CandidateSink(0, build.candidates.threshold, range(1, 21))
    stats = run_plan(
        [p.data for p in prepared.passes],
        predictors,
        channels,
        plan,
        sink=sink,
        batch_size=config.batch_size,
        weights=blend_weights(tiling, config.blend, sigma_scale=config.sigma_scale),
    )
    stats.stages["prepare"] = t_prepare
    index, ca_prob, aa = sink.result()
    # The 20 amino-acid classes without "none", renormalised (rows of zeros stay uniform in the HMM).
    total = aa.sum(axis=1, keepdims=True)
    aa = np.divide(aa, total, out=np.zeros_like(aa), where=total > 0)
    if len(index) == 0:
        raise StatesFormatError(
            source,
            f"no voxel has P(Cα) > {build.candidates.threshold} (highest: {sink.highest:.3f}); nothing to build "
            "from: lower --threshold, or use a better-trained model",
        )
    xyz = prepared.density.frame.index_to_xyz(index)
    candidates = HmmStates.validated(
        xyz, aa, ca_prob, source=f"{source}: Cα candidates (P > {build.candidates.threshold})"
    )
    states = cluster_candidates(candidates, radius=build.candidates.cluster_radius)
    return states, len(candidates), stats


def build_from_map(
    density: DensityMap | Sequence[DensityMap],
    predictors: Predictor | Sequence[Predictor],
    chains: Sequence[tuple[str, str]],
    config: InferConfig | None = None,
    build: BuildConfig | None = None,
    *,
    halves: HalfMapMode = "average",
    mask: MaskConfig | None = None,
    source: object = "map",
) -> BuildReport:
    """Predict, cluster and thread ``(chain_id, sequence)`` pairs through the map.

    Chains come from :func:`cryoray.modelbuild.read_chains`.
    """
    build = build or BuildConfig()
    states, n_candidates, stats = predict_states(
        density, predictors, config, build, halves=halves, mask=mask, source=source
    )
    t0 = time.perf_counter()
    result = thread_chains(states, chains, build.threading)
    stats.stages["threading"] = time.perf_counter() - t0
    return BuildReport(result, n_candidates, len(states), stats)
