"""Settings of an ingest run (the ``ingest`` section of a config, or CLI flags)."""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from cryoray.config import Section
from cryoray.labels.embeddings import EmbeddingConfig, build_embedder, embedding_settings
from cryoray.labels.secondary_structure import SecondaryStructureSource
from cryoray.labels.simulate import check_resolution
from cryoray.labels.voxel_labels import MAX_DENOISE_RADIUS
from cryoray.preprocessing import PrepareConfig
from cryoray.preprocessing.tiling import PRESETS, Tiling, get_tiling
from cryoray.store.schema import DEFAULT_LABEL_KINDS
from cryoray.store.writer import StoreLayout

__all__ = ["IngestConfig", "SplitConfig"]

LabelKind = Literal[
    "atom",
    "amino_acid",
    "secondary_structure",
    "atom_type",
    "denoise_class",
    "denoise_regression",
    "simulated",
    "global_resolution",
    "relative_resolution",
    "molecule_mask",
    "ca_heatmap",
]


class SplitConfig(Section):
    """Train/val/test splits: resolution strata, and sequence-identity clusters kept whole.

    Args:
        fractions: train, val, test shares (sum 1).
        resolution_edges: stratum boundaries in Å: increasing, each within ``RESOLUTION_RANGE``.
        identity: MMseqs2 minimum sequence identity for clusters (0.3 as Cryo2StructData).
        coverage: MMseqs2 alignment coverage.
        seed: shuffling seed.
        mmseqs_timeout: seconds MMseqs2 may run before it is stopped (an error, not a hang).
    """

    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    resolution_edges: tuple[float, ...] = (3.0, 4.0, 6.0)
    identity: float = Field(0.3, gt=0, le=1)
    coverage: float = Field(0.8, gt=0, le=1)
    seed: int = 0
    mmseqs_timeout: float = Field(3600.0, gt=0, le=7 * 86400)

    @field_validator("resolution_edges")
    @classmethod
    def _increasing_edges(cls, edges: tuple[float, ...]) -> tuple[float, ...]:
        for edge in edges:
            check_resolution(edge)
        if any(b <= a for a, b in pairwise(edges)):
            raise ValueError(f"resolution_edges must increase strictly, got {list(edges)}")
        return edges

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> SplitConfig:
        if min(self.fractions) < 0 or abs(sum(self.fractions) - 1) > 1e-6:
            raise ValueError("fractions must be three non-negative numbers summing to 1")
        return self


class IngestConfig(Section):
    """How to turn a manifest of entries into a sub-grid store.

    Args:
        tiling: preset name (c2s, cryoten-train, cryoten-eval) or "custom" with box/stride/core.
        prepare: map preparation (resampling and normalisation, which is required here).
        labels: label arrays to store; by default all but CryoRes's (``global_resolution``,
            ``relative_resolution``: needs the entries' half maps, ``molecule_mask``).
        input_dtype: float16 (half the bytes; ~3 significant digits on [0, 1]) or float32.
        skip_rule: which boxes to leave out: none, no-atoms (no atom in the kept region), no-density.
        denoise_radius: R in Å of the denoising labels, at most ``MAX_DENOISE_RADIUS`` (12 Å).
        amino_acid_radius: Å; 0 labels the residue type at the Cα voxel only (Cryo2Struct's); more
            labels every voxel within it of a Cα (the nearest one's type), at most 2 Å (Cα are
            3.8 Å apart).
        simulated_resolution_scale: the map simulated from the model (labels ``simulated`` and
            ``denoise_regression``) is made at this multiple of the entry's resolution. 1
            (CryoTEN's) matches the map; below 1 gives an enhancer a sharper target than the map,
            one that asks it to restore atomic detail rather than copy the map's blur.
        secondary_structure: auto (annotations if the model has them, else DSSP), annotations, dssp.
        min_fraction_inside: quarantine entries whose model has fewer Cα atoms inside the map.
        retries / retry_delay: attempts and base delay (s) for sources that cannot be reached.
        cpus_per_entry: CPUs a Ray task reserves per entry.
        splits: how to split the entries.
        embedding: a per-entry structural embedding to store (CryoSAMU's input); None stores none.
    """

    tiling: str = "c2s"
    box: PositiveInt | None = None
    stride: PositiveInt | None = None
    core: PositiveInt | None = None
    prepare: PrepareConfig = PrepareConfig()
    labels: tuple[LabelKind, ...] = DEFAULT_LABEL_KINDS  # type: ignore[assignment]
    input_dtype: Literal["float16", "float32"] = "float16"
    skip_rule: Literal["none", "no-atoms", "no-density"] = "no-atoms"
    denoise_radius: float = Field(6.0, gt=0, le=MAX_DENOISE_RADIUS)
    amino_acid_radius: float = Field(0.0, ge=0.0, le=2.0)
    simulated_resolution_scale: float = Field(1.0, ge=0.25, le=4.0)
    secondary_structure: SecondaryStructureSource = "auto"
    min_fraction_inside: float = Field(0.5, ge=0, le=1)
    retries: PositiveInt = 3
    retry_delay: float = Field(1.0, ge=0)
    cpus_per_entry: PositiveFloat = 1.0
    splits: SplitConfig = SplitConfig()
    embedding: EmbeddingConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> IngestConfig:
        if self.tiling != "custom" and self.tiling not in PRESETS:
            raise ValueError(f"tiling must be one of {sorted(PRESETS)} or 'custom'")
        self.tiling_spec()  # custom sizes are checked by Tiling itself
        if not self.prepare.normalize:
            raise ValueError("prepare.normalize must be true for a training store")
        if self.prepare.mask is not None:
            raise ValueError("prepare.mask is not supported in ingest (masks are per entry)")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must not repeat")
        return self

    def tiling_spec(self) -> Tiling:
        return get_tiling(self.tiling, box=self.box, stride=self.stride, core=self.core)

    def layout(self) -> StoreLayout:
        """The store-wide settings this config produces."""
        return StoreLayout(
            tiling=self.tiling_spec(),
            label_kinds=tuple(self.labels),
            input_dtype=self.input_dtype,
            prepare=self.prepare.model_dump(exclude={"max_voxels"}),  # a resource limit, not a data setting
            skip_rule=self.skip_rule,
            denoise_radius=self.denoise_radius,
            amino_acid_radius=self.amino_acid_radius,
            simulated_resolution_scale=self.simulated_resolution_scale,
            embedding=None if self.embedding is None else embedding_settings(build_embedder(self.embedding)),
        )
