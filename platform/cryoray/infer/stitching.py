"""Cutting a prepared map into batches of boxes, and stitching predictions back with bounded memory.

The two halves are separate so that anything can sit between them (a Ray Data pipeline, a
``@serve.batch`` deployment, a GPU on another machine)::

    plan = TilePlan.for_shape(prepared.data.shape, tiling)
    stitcher = Stitcher(plan, channels=1, weights=blend_weights(tiling, "gaussian"), sink=DenseSink(shape, 1))
    for origins, boxes in plan.batches(prepared.data, batch_size=8):
        stitcher.add(origins, predictor.predict(boxes)["output"])
    stitcher.finish()

Stitching is the true weighted mean of the kept regions covering each voxel (core only for
tilings with a core, as Cryo2Struct), with constant or Gaussian weights: unlike a running
pairwise average it does not depend on the order boxes arrive in, and unlike sum / (count + 1)
it returns a constant map unchanged.

Memory is bounded by boxes, not by the map: the stitcher keeps running sums only for z-sections
that some box still has to reach, and hands every section to its ``sink`` as soon as all the
boxes covering it have arrived. Boxes in plan order (z-major, as :meth:`TilePlan.batches` yields
them) keep about one box depth of sections open; boxes out of order are accepted too, at the
cost of more open sections. What is kept is the sink's choice: :class:`DenseSink` fills whole
maps (in memory or memory-mapped on disk), :class:`CandidateSink` keeps only voxels above a
threshold (Cα candidates with their amino-acid rows).

A large map can be split into :class:`Slab` s (:meth:`TilePlan.slabs`): runs of z-sections that
several workers stitch independently, each from the boxes that reach its sections and the input
sections those boxes read; the slabs' outputs, put one after the other in z, are exactly the
whole map's (the boxes at a slab's border are predicted for both slabs).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from cryoray.preprocessing.tiling import Tiling, box_origins, extract_box

__all__ = ["CandidateSink", "DenseSink", "Sink", "Slab", "Stitcher", "TilePlan", "blend_weights"]

#: receives finished sections: ``sink(z0, values)`` with ``values`` ``(C, dz, ny, nx)`` float32
Sink = Callable[[int, np.ndarray], None]


def blend_weights(tiling: Tiling, blend: str = "constant", *, sigma_scale: float = 0.125) -> np.ndarray:
    """Weights ``(k, k, k)`` float64 over a box's kept region (``k`` = core, or the box).

    ``constant``: all ones. ``gaussian``: ``exp(-d² / 2σ²)`` around the region's centre with
    σ = ``sigma_scale`` × k, scaled to a maximum of 1 and floored at 1e-6 so every voxel counts.
    """
    kept = tiling.core if tiling.core is not None else tiling.box
    if blend == "constant":
        return np.ones((kept,) * 3)
    if blend != "gaussian":
        raise ValueError(f"`blend` must be 'constant' or 'gaussian', got {blend!r}")
    centre = (kept - 1) / 2
    sigma = sigma_scale * kept
    axis = np.exp(-((np.arange(kept) - centre) ** 2) / (2 * sigma**2))
    weights = axis[:, None, None] * axis[None, :, None] * axis[None, None, :]
    return np.maximum(weights / weights.max(), 1e-6)


@dataclass(frozen=True)
class Slab:
    """Output z-sections ``[lo, hi)`` of a map, the boxes ``[first, stop)`` of its plan that reach them,
    and the input z-sections ``[read_lo, read_hi)`` those boxes read (the slab's input, cut from the map).

    ``index`` of ``count`` slabs, in z order.
    """

    index: int
    count: int
    lo: int
    hi: int
    first: int
    stop: int
    read_lo: int
    read_hi: int


@dataclass(frozen=True)
class TilePlan:
    """The boxes that cover a map of ``shape`` with ``tiling``, in z-major order.

    Args:
        shape: map shape ``(nz, ny, nx)``.
        tiling: how to cut it.
        origins: ``(N, 3)`` box origins (z, y, x), from :func:`~cryoray.preprocessing.tiling.box_origins`.
    """

    shape: tuple[int, int, int]
    tiling: Tiling
    origins: np.ndarray

    @classmethod
    def for_shape(cls, shape: Sequence[int], tiling: Tiling) -> TilePlan:
        shape = tuple(int(n) for n in shape)
        return cls(shape, tiling, box_origins(shape, tiling))  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.origins)

    def kept_region(self, origin: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)`` voxel bounds (z, y, x) of a box's kept region, clipped to the map."""
        start = np.asarray(origin) + self.tiling.margin
        kept = self.tiling.core if self.tiling.core is not None else self.tiling.box
        return np.maximum(start, 0), np.minimum(start + kept, self.shape)

    def kept_regions(self) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`kept_region` of every box at once: ``(lo, hi)``, each ``(N, 3)``."""
        return self.kept_region(self.origins)

    def slabs(self, max_sections: int) -> list[Slab]:
        """The map's z-sections in balanced slabs of at most ``max_sections``, but none shallower than a box
        (a shallower slab would predict most of its boxes for its neighbours too).

        Boxes are in z-major order, so each slab's boxes are one run of the plan.
        """
        nz = self.shape[0]
        count = max(1, min(-(-nz // max(int(max_sections), 1)), nz // self.tiling.box))
        bounds = np.linspace(0, nz, count + 1).round().astype(int)
        kept_lo, kept_hi = (bound[:, 0] for bound in self.kept_regions())
        slabs = []
        for index, (lo, hi) in enumerate(itertools.pairwise(bounds)):
            reach = np.flatnonzero((kept_lo < hi) & (kept_hi > lo) & (kept_hi > kept_lo))
            first, stop = int(reach[0]), int(reach[-1]) + 1
            read_lo = max(0, int(self.origins[first:stop, 0].min()))
            read_hi = min(nz, int(self.origins[first:stop, 0].max()) + self.tiling.box)
            slabs.append(Slab(index, count, int(lo), int(hi), first, stop, read_lo, read_hi))
        return slabs

    def batches(
        self, data: np.ndarray, batch_size: int, *, start: int = 0, stop: int | None = None, z_offset: int = 0
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(origins (n, 3), boxes (n, 1, b, b, b) float32)`` for boxes ``start:stop``, ``batch_size`` at a time.

        ``data`` is the map, or its z-sections from ``z_offset`` on (a :class:`Slab`'s input: the
        sections its boxes read). Only one batch of boxes exists at a time; parts of boxes outside
        the map are 0.
        """
        nz, ny, nx = self.shape
        if tuple(data.shape[1:]) != (ny, nx) or z_offset < 0 or z_offset + data.shape[0] > nz:
            raise ValueError(f"data shape {data.shape} from z = {z_offset} is not part of the plan's {self.shape}")
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {batch_size}")
        b = self.tiling.box
        stop = len(self.origins) if stop is None else stop
        reads = self.origins[start:stop, 0]
        if len(reads) and (
            max(int(reads.min()), 0) < z_offset or min(int(reads.max()) + b, nz) > z_offset + data.shape[0]
        ):
            raise ValueError(f"boxes {start}:{stop} read map sections outside the data given (from z = {z_offset})")
        shift = np.array([z_offset, 0, 0])
        for first in range(start, stop, batch_size):
            origins = self.origins[first : min(stop, first + batch_size)]
            boxes = np.empty((len(origins), 1, b, b, b), dtype=np.float32)
            for i, origin in enumerate(origins):
                boxes[i, 0] = extract_box(data, origin - shift, b)
            yield origins, boxes


class Stitcher:
    """Streaming weighted mean of box predictions over a :class:`TilePlan`.

    Args:
        plan: the boxes that will arrive (each exactly ``passes`` times).
        channels: channels per box prediction.
        weights: ``(k, k, k)`` weights over the kept region (see :func:`blend_weights`); None = constant.
        sink: receives each finished run of z-sections (see :data:`Sink`), in z order.
        passes: how often each box arrives (2 for both half maps through the model: their mean).
        z_range: stitch only z-sections ``[lo, hi)`` (a :class:`Slab`'s), from the boxes that
            reach them; the rest of each box is ignored. Default: the whole map.
    """

    def __init__(
        self,
        plan: TilePlan,
        channels: int,
        *,
        weights: np.ndarray | None = None,
        sink: Sink,
        passes: int = 1,
        z_range: tuple[int, int] | None = None,
    ) -> None:
        self.plan = plan
        self.channels = int(channels)
        kept = plan.tiling.core if plan.tiling.core is not None else plan.tiling.box
        self.weights = np.ones((kept,) * 3) if weights is None else np.asarray(weights, dtype=np.float64)
        if self.weights.shape != (kept,) * 3:
            raise ValueError(f"weights must be {(kept,) * 3} (the kept region), got {self.weights.shape}")
        self.sink = sink
        nz = plan.shape[0]
        self.z_range = (0, nz) if z_range is None else (int(z_range[0]), int(z_range[1]))
        if not 0 <= self.z_range[0] < self.z_range[1] <= nz:
            raise ValueError(f"z_range {z_range} is not a run of the map's {nz} z-sections")
        # boxes reaching each z-section (vectorised: one pass over a large map's plan per slab)
        lo, hi = plan.kept_regions()
        lo[:, 0], hi[:, 0] = np.maximum(lo[:, 0], self.z_range[0]), np.minimum(hi[:, 0], self.z_range[1])
        reach = np.all(hi > lo, axis=1)
        steps = np.zeros(nz + 1, dtype=np.int64)
        np.add.at(steps, lo[reach, 0], passes)
        np.add.at(steps, hi[reach, 0], -passes)
        self._needed = np.cumsum(steps[:-1])
        if np.any(self._needed[slice(*self.z_range)] == 0):
            raise ValueError("the plan's boxes do not cover every z-section of the map")
        self._got = np.zeros(nz, dtype=np.int64)
        self._rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._next = self.z_range[0]
        self.peak_open_sections = 0

    @property
    def done(self) -> bool:
        return self._next == self.z_range[1]

    def _kept(self, origin: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The box's kept region, cut to the stitched z-sections."""
        lo, hi = self.plan.kept_region(origin)
        lo[0], hi[0] = max(lo[0], self.z_range[0]), min(hi[0], self.z_range[1])
        return lo, hi

    def _row(self, z: int) -> tuple[np.ndarray, np.ndarray]:
        row = self._rows.get(z)
        if row is None:
            if z < self._next:
                raise ValueError(f"z-section {z} was already finished: a box arrived more often than planned")
            _, ny, nx = self.plan.shape
            row = (np.zeros((self.channels, ny, nx)), np.zeros((ny, nx)))
            self._rows[z] = row
            self.peak_open_sections = max(self.peak_open_sections, len(self._rows))
        return row

    def add(self, origins: np.ndarray, values: np.ndarray) -> None:
        """Add predictions ``(n, C, b, b, b)`` of the boxes at ``origins`` ``(n, 3)``."""
        values = np.asarray(values)
        origins = np.asarray(origins).reshape(-1, 3)
        b = self.plan.tiling.box
        if values.shape != (len(origins), self.channels, b, b, b):
            raise ValueError(f"values must be {(len(origins), self.channels, b, b, b)}, got {values.shape}")
        m = self.plan.tiling.margin
        for origin, box in zip(origins, values, strict=True):
            lo, hi = self._kept(origin)
            if np.any(hi <= lo):
                continue
            src = tuple(slice(a - o, c - o) for a, c, o in zip(lo, hi, origin, strict=True))
            wsrc = tuple(slice(a - o - m, c - o - m) for a, c, o in zip(lo, hi, origin, strict=True))
            weight = self.weights[wsrc]
            weighted = box[(slice(None), *src)] * weight
            for dz, z in enumerate(range(lo[0], hi[0])):
                total, wsum = self._row(z)
                total[:, lo[1] : hi[1], lo[2] : hi[2]] += weighted[:, dz]
                wsum[lo[1] : hi[1], lo[2] : hi[2]] += weight[dz]
                self._got[z] += 1
        self._flush()

    def _flush(self) -> None:
        nz = self.z_range[1]
        start = self._next
        stop = start
        while stop < nz and self._got[stop] == self._needed[stop]:
            stop += 1
        if stop == start:
            return
        _, ny, nx = self.plan.shape
        out = np.empty((self.channels, stop - start, ny, nx), dtype=np.float32)
        for dz, z in enumerate(range(start, stop)):
            total, wsum = self._rows.pop(z)
            if np.any(wsum == 0):
                raise ValueError(f"z-section {z} has voxels no box covers")
            np.divide(total, wsum, out=total)
            out[:, dz] = total
        self._next = stop
        self.sink(start, out)

    def finish(self) -> None:
        """Check that every planned box arrived (every section went to the sink)."""
        if not self.done:
            missing = int((self._needed - self._got).clip(0).sum())
            raise ValueError(f"stitching incomplete: {missing} box-sections have not arrived (from z = {self._next})")


class DenseSink:
    """Whole maps ``(C, nz, ny, nx)`` float32, in memory or memory-mapped in ``directory``.

    Args:
        shape: map shape ``(nz, ny, nx)``.
        channels: channels.
        directory: when given, the array is a temporary ``.npy`` file there (:attr:`path`; removed
            by :meth:`close`), so many probability maps of a large map need disk, not memory.
        z0: the map's z-section that the array's first section is (a :class:`Slab`'s ``lo``).
    """

    def __init__(
        self, shape: Sequence[int], channels: int, *, directory: str | os.PathLike | None = None, z0: int = 0
    ) -> None:
        full = (int(channels), *(int(n) for n in shape))
        self.path: str | None = None
        self.z0 = int(z0)
        if directory is None:
            self.data = np.zeros(full, dtype=np.float32)
        else:
            import tempfile

            fd, self.path = tempfile.mkstemp(prefix=".cryoray-stitch-", suffix=".npy", dir=directory)
            os.close(fd)
            self.data = np.lib.format.open_memmap(self.path, mode="w+", dtype=np.float32, shape=full)

    def __call__(self, z0: int, values: np.ndarray) -> None:
        start = z0 - self.z0
        self.data[:, start : start + values.shape[1]] = values

    def close(self) -> None:
        """Drop the array (and its file, if memory-mapped)."""
        self.data = None  # type: ignore[assignment]
        if self.path is not None and os.path.exists(self.path):
            os.unlink(self.path)


class CandidateSink:
    """Only the voxels where channel ``key`` exceeds ``threshold``: indices, that channel, other channels.

    Args:
        key: channel tested against the threshold (e.g. P(Cα)).
        threshold: voxels with a value above it are kept.
        keep: channels stored for the kept voxels (e.g. the 20 amino-acid probabilities).
    """

    def __init__(self, key: int, threshold: float, keep: Sequence[int]) -> None:
        self.key = int(key)
        self.threshold = float(threshold)
        self.keep = list(keep)
        self._index: list[np.ndarray] = []
        self._value: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self.highest = float("-inf")  # the key channel's maximum, kept or not (to explain an empty result)

    def __call__(self, z0: int, values: np.ndarray) -> None:
        if values[self.key].size:
            self.highest = max(self.highest, float(values[self.key].max()))
        where = np.argwhere(values[self.key] > self.threshold)
        if len(where) == 0:
            return
        z, y, x = where.T
        value, rows = values[self.key, z, y, x], values[self.keep][:, z, y, x].T.copy()
        where[:, 0] += z0
        self.add_kept(where, value, rows)

    def add_kept(self, index: np.ndarray, value: np.ndarray, rows: np.ndarray) -> None:
        """Voxels kept elsewhere (another slab's :meth:`result`): indices on the whole map, key values, rows."""
        self._index.append(np.asarray(index, dtype=np.int64))
        self._value.append(np.asarray(value, dtype=np.float32))
        self._rows.append(np.asarray(rows, dtype=np.float32))

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(index (K, 3) int64 z, y, x; value (K,) float32; rows (K, len(keep)) float32)``."""
        if not self._index:
            return np.zeros((0, 3), np.int64), np.zeros(0, np.float32), np.zeros((0, len(self.keep)), np.float32)
        return np.concatenate(self._index), np.concatenate(self._value), np.concatenate(self._rows)
