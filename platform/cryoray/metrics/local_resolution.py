"""Local resolution from two half maps: the FSC in a soft-edged box around each voxel (as blocres does).

Around each sampled voxel, a box of ``box`` voxels per edge is cut from both halves; each box has
its windowed mean removed and is multiplied by a spherical window (1 in the centre, a raised
cosine falling to 0 at the box edge, so the box's faces add no correlation at every frequency).
The FSC of the two boxes, in shells one Fourier voxel of the box wide, gives the resolution where
it first falls below ``threshold`` (interpolated linearly in frequency, as
:func:`~cryoray.metrics.shell_correlation.crossing_resolution`).

What a box can tell: its FSC is measured in shells ``1 / (box x voxel size)`` wide, and the window
blurs the box's transform by about one shell, so signal just inside a cutoff correlates one
shell beyond it too. The 0.5 threshold (blocres's default, and ours) then lands within about a
shell of the true cutoff on the finer side; 0.143 lands one to two shells finer. Independent
noise reads as the box length at 0.5, but at 0.143 a few shells of few Fourier voxels each
cross by chance: spread between half and all of the box length.

Sampling: voxels on a grid of ``stride`` voxels that lie within one stride of the mask are
measured; the map of every voxel in the mask is then the trilinear interpolation of those
samples. The result is in Å, 0 outside the mask, and lies between the finest frequency a box
measures (Nyquist, ``2 x voxel size``, for an even box) and the box's own length (``box x voxel
size``: not even the first shell above zero frequency correlates).

What no library does, written here: cutting many boxes at once (numpy's ``sliding_window_view``
indexed by the sample positions), shell sums for a whole batch as one matrix product (every box
shares one shell geometry, so a box's shell sums are its Fourier products times a fixed
Fourier-voxel-to-shell matrix), and the batched crossing search. scipy.fft does the transforms,
scipy.ndimage the interpolation.

Memory is bounded by a slab and a batch, not by the map: boxes are cut plane by plane of the
sample grid from a zero-padded slab of ``box`` sections of each half, in batches of at most
``chunk_mib`` MiB of working arrays. Only the output map (and a boolean mask) is full-size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from cryoray.errors import ConfigError, MapValueError
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.metrics.grids import check_same_frame
from cryoray.metrics.shell_correlation import _shell_geometry
from cryoray.runtime.progress import Progress

__all__ = ["LocalResolution", "local_resolution"]

#: Working bytes per box and per voxel of the box: two float32 boxes, two complex64 transforms
#: (about half a box each) and the float32 products, with room for numpy's temporaries.
_BYTES_PER_BOX_VOXEL = 40


@dataclass(frozen=True)
class LocalResolution:
    """A local-resolution map and how it was measured.

    Args:
        map: resolution in Å per voxel on the halves' frame, 0 outside the mask.
        mask: the voxels that were measured, ``(nz, ny, nx)`` bool.
        box: box edge in voxels.
        stride: voxels between samples.
        threshold: the FSC threshold.
        n_boxes: boxes measured (samples).
        best: the finest resolution a box can report, Å.
        worst: the coarsest (the box length), Å.
    """

    map: DensityMap
    mask: np.ndarray
    box: int
    stride: int
    threshold: float
    n_boxes: int
    best: float
    worst: float

    def percentiles(self, q: tuple[float, ...] = (5, 25, 50, 75, 95)) -> dict[str, float]:
        """Percentiles of the resolution inside the mask, in Å, keyed ``"p5"``, ``"p25"``, …"""
        values = np.percentile(self.map.data[self.mask], q)
        return {f"p{v:g}": float(r) for v, r in zip(q, values, strict=True)}


class _BoxShells:
    """The geometry every box shares: its window, the shell of each Fourier voxel, the shell frequencies."""

    def __init__(self, box: int, voxel_size: tuple[float, float, float]) -> None:
        (kz, ky, kx), width, n_shells = _shell_geometry(GridFrame((box, box, box), voxel_size))
        self.frequency = np.arange(n_shells) * width
        radius = np.sqrt(kz[:, None, None] ** 2 + ky[None, :, None] ** 2 + kx[None, None, :] ** 2)
        shell = np.rint(radius / width).astype(np.int64)  # beyond the last shell: the corners, left out
        # rfftn keeps x frequencies 0..box//2: every other column stands for itself and its Friedel mate.
        mates = np.full(len(kx), 2.0, dtype=np.float32)
        mates[0] = 1.0
        if box % 2 == 0:
            mates[-1] = 1.0
        weight = np.broadcast_to(mates, shell.shape).ravel()
        rows = np.flatnonzero(shell.ravel() < n_shells)
        self.to_shells = np.zeros((shell.size, n_shells), dtype=np.float32)
        self.to_shells[rows, shell.ravel()[rows]] = weight[rows]
        # The window: a sphere of radius box/2 around the centre voxel (index box//2), flat to 60 % of
        # the radius, then a raised cosine to 0 (distances in voxels, so an ellipsoid in Å if the
        # voxels are not cubic; the shells above use Å).
        d = np.arange(box) - box // 2
        r = np.sqrt(d[:, None, None] ** 2 + d[None, :, None] ** 2 + d[None, None, :] ** 2) / (box / 2)
        edge = np.clip((r - 0.6) / 0.4, 0.0, 1.0)
        self.window = (0.5 * (1 + np.cos(np.pi * edge))).astype(np.float32)
        self.window_sum = float(self.window.sum())

    def fsc(self, boxes1: np.ndarray, boxes2: np.ndarray, workers: int) -> np.ndarray:
        """FSC curves ``(n, n_shells)`` of box pairs ``(n, box, box, box)`` (NaN where a box has no power)."""
        f = []
        for boxes in (boxes1, boxes2):
            mean = np.einsum("nijk,ijk->n", boxes, self.window) / self.window_sum
            windowed = (boxes - mean[:, None, None, None]) * self.window
            f.append(scipy.fft.rfftn(windowed, axes=(1, 2, 3), workers=workers).reshape(len(boxes), -1))
        f1, f2 = f
        cross = (f1.real * f2.real + f1.imag * f2.imag) @ self.to_shells
        p1 = (f1.real**2 + f1.imag**2) @ self.to_shells
        p2 = (f2.real**2 + f2.imag**2) @ self.to_shells
        with np.errstate(invalid="ignore", divide="ignore"):
            return cross / np.sqrt(p1 * p2)

    def crossings(self, curves: np.ndarray, threshold: float) -> np.ndarray:
        """Resolution in Å where each curve first falls below ``threshold`` (NaN counts as below).

        The zero-frequency shell is not searched; a curve below already in shell 1 gives the box
        length, one that never falls the last shell's resolution.
        """
        below = ~(curves[:, 1:] >= threshold)
        first = np.argmax(below, axis=1) + 1  # first shell below (1 when none is: fixed next)
        never = ~below.any(axis=1)
        n = np.arange(len(curves))
        before = np.maximum(first - 1, 1)
        c0, c1 = curves[n, before], curves[n, first]
        f0, f1 = self.frequency[before], self.frequency[first]
        with np.errstate(invalid="ignore", divide="ignore"):
            step = np.where(np.isfinite(c1), (c0 - threshold) / (c0 - c1), 0.0)
            at = f0 + np.clip(step, 0.0, 1.0) * (f1 - f0)
            out = 1.0 / at
        out[first == 1] = 1.0 / self.frequency[1]
        out[never] = 1.0 / self.frequency[-1]
        return out


def _samples_needed(mask: np.ndarray, stride: int) -> np.ndarray:
    """Sample-grid points (indices ``i * stride``) whose value the interpolation of a mask voxel uses.

    A voxel between two samples along an axis uses both, so a sample is needed when a mask voxel
    lies less than one stride away from it along every axis.
    """
    near = ndimage.maximum_filter(mask, size=2 * stride - 1, mode="constant", cval=False)
    return near[::stride, ::stride, ::stride]


def local_resolution(
    half1: DensityMap,
    half2: DensityMap,
    *,
    mask: np.ndarray | None = None,
    box: int = 24,
    stride: int | None = None,
    threshold: float = 0.5,
    chunk_mib: float = 64.0,
    workers: int = 1,
    progress: bool = False,
    source: str = "second half map",
) -> LocalResolution:
    """Local resolution of two half maps on one grid (blocres-like local FSC).

    Args:
        half1, half2: the half maps.
        mask: voxels to measure, bool ``(nz, ny, nx)`` (default: the whole box).
        box: box edge in voxels, at least 8. Shells are ``1 / (box x voxel size)`` wide: a larger
            box measures finer steps but averages over more space.
        stride: voxels between samples (default ``box // 4``); 1 measures every voxel.
        threshold: the FSC threshold, within (0, 1): 0.5 (default) or 0.143 as usual.
        chunk_mib: working memory for one batch of boxes, MiB.
        workers: threads for the FFTs.
        progress: show progress on stderr.
        source: the name of ``half2`` in errors.

    Raises:
        GridMismatchError: the halves, or the mask and the halves, are not on one grid.
        MapValueError: the mask is empty, or the halves hold non-finite values.
        ConfigError: ``box``, ``stride``, ``threshold`` or ``chunk_mib`` out of range.
    """
    check_same_frame(half1, half2, source=source)
    frame = half1.frame
    if not (isinstance(box, int) and 8 <= box <= min(frame.shape)):
        raise ConfigError("box", f"must be an integer from 8 to the smallest map edge {min(frame.shape)}, got {box}")
    stride = max(1, box // 4) if stride is None else stride
    if not (isinstance(stride, int) and 1 <= stride <= box):
        raise ConfigError("stride", f"must be an integer from 1 to the box size {box}, got {stride}")
    if not 0 < threshold < 1:
        raise ConfigError("threshold", f"must be within (0, 1), got {threshold}")
    if not chunk_mib > 0:
        raise ConfigError("chunk_mib", f"must be positive, got {chunk_mib}")
    if mask is None:
        mask = np.ones(frame.shape, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != frame.shape:
        raise MapValueError("mask", f"mask shape {mask.shape} (z, y, x) differs from the map shape {frame.shape}")
    if not mask.any():
        raise MapValueError("mask", "mask is empty")
    for name, half in (("first half map", half1), (source, half2)):
        if not all(np.isfinite(half.data[k : k + 16]).all() for k in range(0, frame.shape[0], 16)):
            raise MapValueError(name, "the map holds non-finite values (NaN or Inf)")

    shells = _BoxShells(box, frame.voxel_size)
    needed = _samples_needed(mask, stride)
    batch = max(1, int(chunk_mib * 2**20 // (_BYTES_PER_BOX_VOXEL * box**3)))
    samples = np.zeros(needed.shape, dtype=np.float32)  # not needed: 0, never used by a mask voxel
    ny, nx = frame.shape[1:]
    low = box // 2  # a box around voxel c spans c - box//2 .. c - box//2 + box - 1
    with Progress("local-resolution", int(needed.sum()), unit="boxes", enabled=progress) as shown:
        for iz in np.flatnonzero(needed.any(axis=(1, 2))):
            z0 = iz * stride - low
            # One slab of `box` sections around this sample plane, padded with zeros beyond the map.
            slabs = []
            for half in (half1, half2):
                slab = np.zeros((box, ny + box, nx + box), dtype=np.float32)
                lo, hi = max(z0, 0), min(z0 + box, frame.shape[0])
                slab[lo - z0 : hi - z0, low : low + ny, low : low + nx] = half.data[lo:hi]
                slabs.append(sliding_window_view(slab, (box, box, box))[0])  # (y, x, box z, box y, box x), a view
            iy, ix = np.nonzero(needed[iz])
            for start in range(0, len(iy), batch):
                y, x = iy[start : start + batch] * stride, ix[start : start + batch] * stride
                curves = shells.fsc(slabs[0][y, x], slabs[1][y, x], workers)  # boxes (n, z, y, x), copied
                samples[iz, iy[start : start + batch], ix[start : start + batch]] = shells.crossings(curves, threshold)
                shown.update(advance=len(y))
    data = _interpolate(samples, mask, stride)
    return LocalResolution(
        map=DensityMap(data=data, frame=frame, labels=(f"cryoray local-resolution box {box} FSC {threshold:g}",)),
        mask=mask,
        box=box,
        stride=stride,
        threshold=float(threshold),
        n_boxes=int(needed.sum()),
        best=float(1.0 / shells.frequency[-1]),
        worst=float(1.0 / shells.frequency[1]),
    )


def _interpolate(samples: np.ndarray, mask: np.ndarray, stride: int) -> np.ndarray:
    """Trilinear interpolation of the sample grid onto every voxel, section by section; 0 outside ``mask``.

    Voxels beyond the last sample along an axis take its value (``mode="nearest"``).
    """
    out = np.zeros(mask.shape, dtype=np.float32)
    ny, nx = mask.shape[1:]
    yy, xx = np.meshgrid(np.arange(ny) / stride, np.arange(nx) / stride, indexing="ij")
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        coords = np.stack([np.full_like(yy, k / stride), yy, xx])
        values = ndimage.map_coordinates(samples, coords, order=1, mode="nearest")
        out[k] = np.where(mask[k], values, 0.0)
    return out
