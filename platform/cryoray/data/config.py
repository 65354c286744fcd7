"""Settings of the data path (the ``data`` section of a training config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from cryoray.config import Section

__all__ = ["AugmentConfig", "DataConfig"]


class AugmentConfig(Section):
    """On-the-fly augmentation, applied identically to the input and every label of a sub-grid.

    Args:
        crop: edge of a random cubic crop taken from each box (CryoTEN: 48 from 64); None = whole box.
        rot90: probability of a random 90° rotation (k = 1..3 in a random axis plane); CryoTEN 0.4.
        flip: probability of flipping each axis; CryoTEN 0.4.
        gain: ``(low, high)``: multiply the input by a factor drawn log-uniformly in this range,
            then clip it to [0, 1] (labels unchanged). A percentile normalisation saturates maps
            very differently: the 95th percentile of a masked map's positive voxels clips nearly
            all its Cα voxels, of an unmasked map about half. Trained on a store normalised
            without clipping (the 99.999th percentile), a network so learns every saturation.
    """

    crop: PositiveInt | None = None
    rot90: float = Field(0.0, ge=0.0, le=1.0)
    flip: float = Field(0.0, ge=0.0, le=1.0)
    gain: tuple[PositiveFloat, PositiveFloat] | None = None

    @model_validator(mode="after")
    def _ordered_gain(self) -> AugmentConfig:
        if self.gain is not None and self.gain[0] > self.gain[1]:
            raise ValueError(f"augment.gain must be (low, high) with low <= high, not {list(self.gain)}")
        return self


class DataConfig(Section):
    """Where the sub-grids come from and how they are streamed.

    Args:
        store: path or URL (``s3://...``) of a sub-grid store.
        holdout: ``splits`` = whole entries by the splits recorded in the store; ``subgrids`` =
            ``val_fraction`` of every entry's sub-grids (by a hash of entry and sub-grid number,
            stable across runs; neighbouring boxes overlap, so this shares context with
            training); ``auto`` = ``splits`` when the store's splits give a validation set.
        val_fraction: share of sub-grids held out with ``holdout: subgrids``.
        block_subgrids: sub-grids per read (rounded up to whole chunks); None = 4 chunks.
        shuffle_buffer: sub-grids mixed across blocks before batching (per worker).
        augment: training-time augmentation (never applied to validation).
        exclude_entries: entry ids never read, for training nor validation (leave-one-map-out:
            train on the others, evaluate the excluded map afterwards).
        embedding: give every sub-grid its entry's structural embedding (the store's
            ``embedding`` array, see :mod:`cryoray.labels.embeddings`), as the batch column
            ``embedding`` and the network's ``embedding`` input (CryoSAMU).
    """

    store: str
    holdout: Literal["auto", "splits", "subgrids"] = "auto"
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    block_subgrids: PositiveInt | None = None
    shuffle_buffer: PositiveInt = 256
    augment: AugmentConfig = AugmentConfig()
    exclude_entries: tuple[str, ...] = ()
    embedding: bool = False
