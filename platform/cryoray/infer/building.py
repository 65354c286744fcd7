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
from dataclasses import dataclass, field

from cryoray.infer.candidates import candidate_sink, clustered_states
from cryoray.infer.channels import build_channels
from cryoray.infer.config import InferConfig
from cryoray.infer.inputs import HalfMapMode, prepare_input
from cryoray.infer.predictor import Predictor
from cryoray.infer.recipe import Recipe
from cryoray.infer.whole_map import InferenceStats, run_plan
from cryoray.io.density_map import DensityMap
from cryoray.modelbuild import BuildConfig, HmmStates, thread_chains
from cryoray.modelbuild.threading import ThreadingResult
from cryoray.preprocessing.config import MaskConfig

__all__ = ["BuildReport", "build_from_map", "predict_states"]


@dataclass(frozen=True)
class BuildReport:
    """A built model and how it was reached (``settings``: where the recipe's settings came from)."""

    result: ThreadingResult
    candidates: int
    states: int
    stats: InferenceStats
    settings: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return (
            {
                "candidates": self.candidates,
                "states_clustered": self.states,
                "inference": self.stats.to_dict(),
            }
            | self.settings
            | self.result.to_dict()
        )


def predict_states(
    density: DensityMap | Sequence[DensityMap],
    predictors: Predictor | Sequence[Predictor],
    config: InferConfig | None = None,
    build: BuildConfig | None = None,
    *,
    halves: HalfMapMode = "average",
    mask: MaskConfig | None = None,
    source: object = "map",
) -> tuple[HmmStates, int, InferenceStats, Recipe]:
    """Cα candidates of a map, clustered: ``(states, candidates, stats, recipe)``.

    Candidate settings ``build`` leaves unset come from the models' bundles (see :class:`Recipe`).

    Raises:
        ConfigError: missing heads (see :func:`~cryoray.infer.channels.build_channels`).
        StatesFormatError: no voxel has P(Cα) above the threshold.
    """
    config = config or InferConfig()
    predictors = [predictors] if isinstance(predictors, Predictor) else list(predictors)
    specs = [p.spec for p in predictors]
    channels = build_channels(specs)
    recipe = Recipe.for_models(specs, config, mask=mask, build=build or BuildConfig())
    t0 = time.perf_counter()
    prepared = prepare_input(density, recipe.prepare, halves=halves, source=source)
    t_prepare = time.perf_counter() - t0
    sink = candidate_sink(recipe.build)
    stats = run_plan(
        [p.data for p in prepared.passes],
        predictors,
        channels,
        recipe.plan(prepared.density.data.shape),
        sink=sink,
        batch_size=config.batch_size,
        weights=recipe.weights,
    )
    stats.stages["prepare"] = t_prepare
    states, n_candidates = clustered_states(sink, prepared.density.frame, recipe.build, source=source)
    return states, n_candidates, stats, recipe


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
    states, n_candidates, stats, recipe = predict_states(
        density, predictors, config, build, halves=halves, mask=mask, source=source
    )
    t0 = time.perf_counter()
    result = thread_chains(states, chains, recipe.build.threading)
    stats.stages["threading"] = time.perf_counter() - t0
    return BuildReport(result, n_candidates, len(states), stats, recipe.report())
