"""Cutting maps into cubic sub-grids (boxes) and stitching box predictions back.

Presets (see shared/reference/METHODS.md):

* ``c2s`` (Cryo2Struct): 32³ boxes, stride 20; only the central 20³ core of a box is kept when
  stitching. Box origins start at −6 so the cores tile the map from voxel 0; voxels outside the
  map read as 0 (the published zero padding).
* ``cryoten-train``: 64³ boxes, stride 50, from voxel 0 until the map is covered.
* ``cryoten-eval``: 48³ boxes, stride 38, plus one extra box per axis aligned to the map's end
  (no padding unless the map is smaller than a box).
* custom: any box, stride (≤ box) and optional core.

Every voxel of the map is covered by at least one kept region, for any shape (non-cubic, odd,
smaller than a box), so :func:`stitch` rebuilds a map exactly from its own boxes. Stitching
takes the true weighted mean of overlapping boxes (not an order-dependent running average).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["PRESETS", "Tiling", "box_origins", "extract_box", "get_tiling", "stitch"]


@dataclass(frozen=True)
class Tiling:
    """How to cut a map into boxes.

    Args:
        name: preset name (or "custom").
        box: edge of the cubic box in voxels.
        stride: step between box origins in voxels (``1 <= stride <= box``).
        core: edge of the central region kept when stitching (None: the whole box).
        end_aligned: add a last box per axis that ends exactly at the map's end.
    """

    name: str
    box: int
    stride: int
    core: int | None = None
    end_aligned: bool = False

    def __post_init__(self) -> None:
        if self.box < 1 or not 1 <= self.stride <= self.box:
            raise ValueError(f"tiling needs box >= 1 and 1 <= stride <= box, got box {self.box}, stride {self.stride}")
        if self.core is not None and (self.core < self.stride or self.core > self.box or (self.box - self.core) % 2):
            raise ValueError(
                f"core {self.core} must be >= stride {self.stride}, <= box {self.box}, with an even margin"
            )

    @property
    def margin(self) -> int:
        """Voxels between the box face and its kept core."""
        return 0 if self.core is None else (self.box - self.core) // 2

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "box": self.box,
            "stride": self.stride,
            "core": self.core,
            "end_aligned": self.end_aligned,
        }


PRESETS = {
    "c2s": Tiling("c2s", box=32, stride=20, core=20),
    "cryoten-train": Tiling("cryoten-train", box=64, stride=50),
    "cryoten-eval": Tiling("cryoten-eval", box=48, stride=38, end_aligned=True),
}


def get_tiling(name: str, *, box: int | None = None, stride: int | None = None, core: int | None = None) -> Tiling:
    """A preset by name, or ``"custom"`` with ``box`` and ``stride`` (and optional ``core``)."""
    if name == "custom":
        if box is None or stride is None:
            raise ValueError("custom tiling needs box and stride")
        return Tiling("custom", box=box, stride=stride, core=core)
    if name not in PRESETS:
        raise ValueError(f"unknown tiling '{name}'; choose one of {sorted(PRESETS)} or 'custom'")
    return PRESETS[name]


def _axis_origins(n: int, tiling: Tiling) -> list[int]:
    start = -tiling.margin
    origins = [start]
    # Continue while the kept region of the last box ends before the map does.
    kept = tiling.core if tiling.core is not None else tiling.box
    while origins[-1] + tiling.margin + kept < n:
        nxt = origins[-1] + tiling.stride
        if tiling.end_aligned and nxt + tiling.box >= n:
            break
        origins.append(nxt)
    if tiling.end_aligned and n > tiling.box and origins[-1] + tiling.box < n:
        origins.append(n - tiling.box)
    return origins


def box_origins(shape: tuple[int, int, int], tiling: Tiling) -> np.ndarray:
    """Voxel origins ``(N, 3)`` (z, y, x) of all boxes; they may lie outside the map (padding)."""
    axes = [_axis_origins(int(n), tiling) for n in shape]
    grid = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.ravel() for g in grid], axis=1).astype(np.int64)


def extract_box(data: np.ndarray, origin: Iterable[int], box: int, *, fill: float = 0.0) -> np.ndarray:
    """The ``box``³ sub-array starting at ``origin`` (z, y, x); parts outside ``data`` are ``fill``."""
    origin = np.asarray(list(origin), dtype=np.int64)
    out = np.full((box, box, box), fill, dtype=data.dtype)
    lo = np.maximum(origin, 0)
    hi = np.minimum(origin + box, data.shape)
    if np.any(hi <= lo):
        return out
    src = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    dst = tuple(slice(a - o, b - o) for a, b, o in zip(lo, hi, origin, strict=True))
    out[dst] = data[src]
    return out


def stitch(
    boxes: Iterable[np.ndarray],
    origins: np.ndarray,
    shape: tuple[int, int, int],
    tiling: Tiling,
) -> np.ndarray:
    """Rebuild a ``shape`` array from boxes: the mean of the kept regions covering each voxel.

    Kept region = the core for tilings with a core, otherwise the whole box. Memory: the output
    plus one count array, whatever the number of boxes.
    """
    total = np.zeros(shape, dtype=np.float64)
    count = np.zeros(shape, dtype=np.uint16)
    m = tiling.margin
    kept = tiling.core if tiling.core is not None else tiling.box
    for box, origin in zip(boxes, origins, strict=True):
        start = np.asarray(origin) + m
        lo = np.maximum(start, 0)
        hi = np.minimum(start + kept, shape)
        if np.any(hi <= lo):
            continue
        dst = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        src = tuple(slice(a - o, b - o) for a, b, o in zip(lo, hi, np.asarray(origin), strict=True))
        total[dst] += box[src]
        count[dst] += 1
    if np.any(count == 0):
        raise ValueError("the boxes do not cover the whole map")
    return (total / count).astype(np.float32)
