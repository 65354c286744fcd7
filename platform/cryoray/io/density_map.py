"""The in-memory density map: a float32 array that always travels with its frame.

Conventions (used everywhere in cryoray):

* ``data`` is a C-contiguous float32 array of shape ``(nz, ny, nx)``: ``data[k, j, i]`` is the
  voxel at column ``i`` along x, row ``j`` along y and section ``k`` along z, whatever the axis
  order of the file it came from (MAPC/MAPR/MAPS are applied when reading).
* Vectors in Ångström (``voxel_size``, ``origin``, atom coordinates) are in ``(x, y, z)`` order.
* ``origin`` is the position of the centre of voxel ``(0, 0, 0)``; voxel ``(k, j, i)`` sits at
  ``origin + (i, j, k) * voxel_size``. Grid values are samples at voxel centres, as in ChimeraX.
* An atom belongs to the voxel whose centre is nearest (:meth:`GridFrame.nearest_voxel`; an exact
  tie between two centres goes to the even index, as ``numpy.rint`` does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DensityMap", "GridFrame"]


def _triple(values: object, name: str) -> tuple[float, float, float]:
    out = tuple(float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1))
    if len(out) != 3:
        raise ValueError(f"`{name}` needs 3 values (x, y, z), got {len(out)}")
    return out  # type: ignore[return-value]


@dataclass(frozen=True)
class GridFrame:
    """Where a regular orthogonal grid lies in space.

    Args:
        shape: number of voxels ``(nz, ny, nx)``, the array's shape.
        voxel_size: voxel edge lengths in Å, ``(x, y, z)``.
        origin: position in Å of the centre of voxel ``(0, 0, 0)``, ``(x, y, z)``.
    """

    shape: tuple[int, int, int]
    voxel_size: tuple[float, float, float]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        shape = tuple(int(n) for n in self.shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"`shape` must be three positive sizes, got {self.shape}")
        voxel_size = _triple(self.voxel_size, "voxel_size")
        if not all(np.isfinite(v) and v > 0 for v in voxel_size):
            raise ValueError(f"`voxel_size` must be positive and finite, got {voxel_size}")
        origin = _triple(self.origin, "origin")
        if not all(np.isfinite(v) for v in origin):
            raise ValueError(f"`origin` must be finite, got {origin}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "voxel_size", voxel_size)
        object.__setattr__(self, "origin", origin)

    @property
    def shape_xyz(self) -> tuple[int, int, int]:
        """Number of voxels along ``(x, y, z)``."""
        return self.shape[2], self.shape[1], self.shape[0]

    @property
    def n_voxels(self) -> int:
        return math.prod(self.shape)

    @property
    def upper(self) -> tuple[float, float, float]:
        """Position in Å of the centre of the last voxel, ``(x, y, z)``."""
        n = np.array(self.shape_xyz, dtype=np.float64) - 1
        return tuple(np.asarray(self.origin) + n * np.asarray(self.voxel_size))  # type: ignore[return-value]

    def xyz_to_index(self, xyz: np.ndarray) -> np.ndarray:
        """Fractional voxel indices ``(k, j, i)`` (z, y, x) of positions ``(..., 3)`` in Å (x, y, z)."""
        xyz = np.asarray(xyz, dtype=np.float64)
        ijk = (xyz - np.asarray(self.origin)) / np.asarray(self.voxel_size)
        return ijk[..., ::-1]

    def index_to_xyz(self, index_zyx: np.ndarray) -> np.ndarray:
        """Positions in Å ``(x, y, z)`` of (possibly fractional) voxel indices ``(..., 3)`` in (z, y, x)."""
        ijk = np.asarray(index_zyx, dtype=np.float64)[..., ::-1]
        return np.asarray(self.origin) + ijk * np.asarray(self.voxel_size)

    def nearest_voxel(self, xyz: np.ndarray) -> np.ndarray:
        """Integer indices ``(k, j, i)`` of the voxel whose centre is nearest each position.

        Indices may lie outside the grid; combine with :meth:`contains_index`.
        """
        return np.rint(self.xyz_to_index(xyz)).astype(np.int64)

    def contains_index(self, index_zyx: np.ndarray) -> np.ndarray:
        """True where integer indices ``(..., 3)`` lie inside the grid."""
        index_zyx = np.asarray(index_zyx)
        return np.all((index_zyx >= 0) & (index_zyx < np.asarray(self.shape)), axis=-1)

    def contains(self, xyz: np.ndarray) -> np.ndarray:
        """True where positions lie within the box spanned by the voxel centres."""
        idx = self.xyz_to_index(xyz)
        eps = 1e-6
        return np.all((idx >= -eps) & (idx <= np.asarray(self.shape) - 1 + eps), axis=-1)

    def with_voxel_size(self, voxel_size: float | tuple[float, float, float]) -> GridFrame:
        """A frame with the same origin covering at least this frame's extent at a new spacing.

        Voxel 0 stays where it was; the last voxel centre lies at or just beyond this frame's
        last voxel centre, so no density is cut off.
        """
        new = np.broadcast_to(np.asarray(voxel_size, dtype=np.float64), (3,))
        span = (np.array(self.shape_xyz) - 1) * np.asarray(self.voxel_size)
        n_xyz = np.ceil(span / new - 1e-6).astype(np.int64) + 1
        return GridFrame(shape=tuple(n_xyz[::-1]), voxel_size=tuple(new), origin=self.origin)

    def same_as(self, other: GridFrame, *, atol: float = 1e-4) -> bool:
        """True if both frames describe the same voxels (within ``atol`` Å)."""
        return (
            self.shape == other.shape
            and np.allclose(self.voxel_size, other.voxel_size, atol=atol)
            and np.allclose(self.origin, other.origin, atol=atol)
        )

    def to_dict(self) -> dict[str, list]:
        """JSON-ready description, vectors in (x, y, z)."""
        return {
            "shape": list(self.shape_xyz),
            "voxel_size": list(self.voxel_size),
            "origin": list(self.origin),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[float]]) -> GridFrame:
        """The frame :meth:`to_dict` describes (its ``shape`` is (x, y, z); a frame's is (z, y, x))."""
        nx, ny, nz = (int(n) for n in data["shape"])
        return cls((nz, ny, nx), _triple(data["voxel_size"], "voxel_size"), _triple(data["origin"], "origin"))


@dataclass(frozen=True)
class DensityMap:
    """A density grid with its frame. The array is read-only; derive new maps with :meth:`with_data`.

    Args:
        data: float32 array ``(nz, ny, nx)``.
        frame: where the grid lies; ``frame.shape`` must equal ``data.shape``.
        labels: provenance text (MRC labels) carried along and written out.
    """

    data: np.ndarray
    frame: GridFrame
    labels: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        data = np.ascontiguousarray(self.data, dtype=np.float32)
        if data.ndim != 3:
            raise ValueError(f"`data` must be 3D (z, y, x), got shape {data.shape}")
        if data.shape != self.frame.shape:
            raise ValueError(f"`data` shape {data.shape} differs from frame shape {self.frame.shape}")
        if data is self.data and data.flags.writeable:
            data = data.view()
        data.flags.writeable = False
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "labels", tuple(self.labels))

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        return self.frame.voxel_size

    @property
    def origin(self) -> tuple[float, float, float]:
        return self.frame.origin

    def with_data(self, data: np.ndarray, *, label: str | None = None) -> DensityMap:
        """A new map on the same frame, optionally appending a provenance label."""
        labels = self.labels + ((label,) if label else ())
        return DensityMap(data=data, frame=self.frame, labels=labels)

    def stats(self) -> dict[str, float]:
        """min, max, mean and standard deviation, in float64, slab by slab (no full-size temporaries)."""
        slabs = [self.data[k : k + _SLAB] for k in range(0, self.data.shape[0], _SLAB)]
        n = self.data.size
        mean = sum(float(s.sum(dtype=np.float64)) for s in slabs) / n
        var = sum(float(np.square(s - np.float32(mean), dtype=np.float64).sum()) for s in slabs) / n
        return {
            "min": float(min(s.min() for s in slabs)),
            "max": float(max(s.max() for s in slabs)),
            "mean": mean,
            "std": float(np.sqrt(var)),
        }


_SLAB = 16  # z-sections per slab in whole-map reductions
