"""Percentile normalisation of density, as the published tools do it.

Cryo2Struct divides by the 95th percentile of the positive voxels and clips to [0, 1];
CryoTEN and EMReady use the 99.999th. The percentile is a parameter and what was done is
returned as a record that travels with the data (store metadata, MRC labels, JSON).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cryoray.errors import MapValueError
from cryoray.io.density_map import DensityMap

__all__ = ["Normalization", "apply_normalization", "normalize"]


@dataclass(frozen=True)
class Normalization:
    """What :func:`normalize` did: ``clip(value / scale, 0, 1)``.

    Args:
        percentile: percentile of the positive voxels used as the scale.
        scale: the density value that became 1.0.
    """

    percentile: float
    scale: float
    method: str = "positive-percentile, clip [0, 1]"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def apply_normalization(density: DensityMap, record: Normalization) -> DensityMap:
    """Apply a recorded normalisation (e.g. the one of another map) to ``density``."""
    out = np.divide(density.data, np.float32(record.scale), dtype=np.float32)
    np.clip(out, 0.0, 1.0, out=out)
    return density.with_data(out, label=f"cryoray normalize p{record.percentile:g} scale {record.scale:.6g}")


def normalize(
    density: DensityMap, *, percentile: float = 95.0, source: object = "map"
) -> tuple[DensityMap, Normalization]:
    """Divide by the ``percentile`` of the positive voxels and clip to [0, 1].

    Raises:
        ValueError: ``percentile`` outside (0, 100].
        MapValueError: the map has no positive voxels.
    """
    if not 0 < percentile <= 100:
        raise ValueError(f"`percentile` must be in (0, 100], got {percentile}")
    positive = density.data[density.data > 0]
    if positive.size == 0:
        raise MapValueError(source, "map has no positive density to normalise")
    scale = float(np.percentile(positive, percentile, overwrite_input=True))
    del positive
    record = Normalization(percentile=float(percentile), scale=scale)
    return apply_normalization(density, record), record
