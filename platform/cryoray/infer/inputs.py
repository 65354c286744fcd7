"""The map the network sees: one map, or two half maps, prepared (resampled, masked, normalised).

Half maps (``halves``):

* ``average``: the network sees the mean of the two halves (the full map, up to the
  reconstruction's weighting). One pass.
* ``both``: each half goes through the network on its own and the stitched outputs are
  averaged (every box is predicted twice and enters the same weighted mean). Twice the compute;
  the halves share one normalisation (the average's), so their outputs are on one scale.

The halves must lie on the same grid (shape, voxel size, origin).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cryoray.errors import MapValueError
from cryoray.io.density_map import DensityMap
from cryoray.preprocessing.config import PrepareConfig
from cryoray.preprocessing.normalize import apply_normalization
from cryoray.preprocessing.prepare import PrepareRecord, prepare_map

__all__ = ["HalfMapMode", "PreparedInput", "average_halves", "prepare_input"]

HalfMapMode = Literal["average", "both"]


@dataclass(frozen=True)
class PreparedInput:
    """What the network is fed.

    Args:
        density: the prepared map (for two halves: their prepared average).
        passes: the prepared maps that go through the network (one, or both halves).
        record: what preparation did (source frame, normalisation, mask).
    """

    density: DensityMap
    passes: tuple[DensityMap, ...]
    record: PrepareRecord


def average_halves(halves: Sequence[DensityMap], *, source: object = "half maps") -> DensityMap:
    """The voxel-wise mean of two half maps on the same grid.

    Raises:
        MapValueError: not two maps, or maps on different grids.
    """
    if len(halves) != 2:
        raise MapValueError(source, f"give exactly two half maps, got {len(halves)}")
    first, second = halves
    if not first.frame.same_as(second.frame):
        raise MapValueError(
            source, f"half maps lie on different grids: {first.frame.to_dict()} vs {second.frame.to_dict()}"
        )
    data = np.add(first.data, second.data, dtype=np.float32)
    data *= np.float32(0.5)
    return DensityMap(data, first.frame, labels=(*first.labels, "cryoray: mean of two half maps"))


def prepare_input(
    density: DensityMap | Sequence[DensityMap],
    config: PrepareConfig,
    *,
    halves: HalfMapMode = "average",
    source: object = "map",
) -> PreparedInput:
    """Prepare one map, or two half maps (see module docs), for the network."""
    if isinstance(density, DensityMap):
        prepared, record = prepare_map(density, config, source=source)
        return PreparedInput(prepared, (prepared,), record)
    if halves not in ("average", "both"):
        raise ValueError(f"`halves` must be 'average' or 'both', got {halves!r}")
    mean = average_halves(density, source=source)
    prepared, record = prepare_map(mean, config, source=source)
    if halves == "average":
        return PreparedInput(prepared, (prepared,), record)
    unnormalised = config.model_copy(update={"normalize": False})
    passes = []
    for half in density:
        one, _ = prepare_map(half, unnormalised, source=source)
        if record.normalization is not None:
            one = apply_normalization(one, record.normalization)
        passes.append(one)
    return PreparedInput(prepared, tuple(passes), record)
