"""Settings of batch inference over a manifest of maps (the ``batch`` config, or CLI flags)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, field_validator

from cryoray.config import Section
from cryoray.infer.config import InferConfig
from cryoray.modelbuild.config import BuildConfig

__all__ = ["BatchActors", "BatchInferConfig", "BatchOutputs", "BatchRow"]


class BatchRow(Section):
    """One manifest row for inference: an entry's map, and optionally its sequence (FASTA).

    The ingest columns ``model`` and ``resolution`` are accepted and ignored, so one manifest
    serves both. ``half_map_1``/``half_map_2``, when both are given, are predicted averaged.
    """

    entry_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    map: str = Field(min_length=1)
    sequence: str | None = None
    model: str | None = None
    resolution: PositiveFloat | None = None
    half_map_1: str | None = None
    half_map_2: str | None = None

    @field_validator("sequence", "model", "resolution", "half_map_1", "half_map_2", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value


class BatchOutputs(Section):
    """What each entry gets.

    Args:
        maps: output channels written as maps on the input's grid (``output`` for an enhancement
            model, ``atom_CA`` … for a classifier): ``all``, or a list of names (may be empty).
        model: build a Cα model (``model.cif``) for entries with a sequence (needs heads trained
            on ``atom`` and ``amino_acid``).
        float16: write maps as MRC mode 12 (half the bytes).
    """

    maps: Literal["all"] | tuple[str, ...] = "all"
    model: bool = True
    float16: bool = False


class BatchActors(Section):
    """Ray resources of the pipeline's stages.

    Args:
        predictors: predictor actors (one model copy each; one per GPU on a GPU cluster).
        cpus_per_predictor / gpus_per_predictor: resources each predictor actor reserves.
        read_cpus: CPUs per read-prepare-tile task (one per entry).
        finish_cpus: CPUs per task that puts outputs back on the input's grid and writes them.
        alignment: sequence-threading actors (started only when some entry has a sequence).
        alignment_cpus: CPUs per threading actor.
        slab_voxels: prepared maps larger than this go to the predictors in z-slabs of about
            this many voxels (none shallower than a box), predicted by several actors at once and
            merged; it also bounds what one actor stitches (``4 × slab_voxels`` bytes per channel).
        wait_for_predictors_s: hold the first slab until every predictor actor is up (at most this
            long, then the run fails); 0: start as soon as one is (the others join when ready).
    """

    predictors: PositiveInt = 1
    cpus_per_predictor: NonNegativeFloat = 1.0
    gpus_per_predictor: NonNegativeFloat = 0.0
    read_cpus: PositiveFloat = 0.5
    finish_cpus: PositiveFloat = 0.25
    alignment: PositiveInt = 1
    alignment_cpus: PositiveFloat = 0.5
    slab_voxels: PositiveInt = 64 * 1024**2
    wait_for_predictors_s: NonNegativeInt = 0


class BatchInferConfig(Section):
    """A batch inference run: which models, how to cut and predict, what to write, on what resources.

    Args:
        models: model references (checkpoint directories or registered ``NAME[/VERSION]``), all
            taking the same box: e.g. an enhancement model, or a Cryo2Struct atom model plus its
            amino-acid model; every head of every model is predicted.
        tracking_uri: MLflow tracking URI for registered names (default ``MLFLOW_TRACKING_URI``).
        infer: tiling, blending, device, precision; ``infer.batch_size`` is the number of boxes
            per forward pass of a predictor actor (boxes of several entries share a batch).
        build: candidate and threading settings of model building.
        outputs: what each entry gets (see :class:`BatchOutputs`).
        actors: Ray resources (see :class:`BatchActors`).
        retries / retry_delay: attempts and base delay (s) for sources that cannot be reached.
    """

    models: tuple[str, ...] = Field(min_length=1)
    tracking_uri: str | None = None
    infer: InferConfig = InferConfig(batch_size=32)
    build: BuildConfig = BuildConfig()
    outputs: BatchOutputs = BatchOutputs()
    actors: BatchActors = BatchActors()
    retries: PositiveInt = 3
    retry_delay: NonNegativeFloat = 1.0
