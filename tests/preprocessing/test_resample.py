"""Resampling: frames kept, round trips, odd shapes, bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from cryoray.io import DensityMap, GridFrame, read_map
from cryoray.preprocessing import contour_mask, resample, resample_onto
from tests.conftest import REAL_MAPS, real


def test_prepare_grid_round_trip_on_emd_3488_correlates_inside_molecule() -> None:
    density = read_map(real(REAL_MAPS["3488"]))
    one = resample(density, 1.0)
    assert one.voxel_size == (1.0, 1.0, 1.0)
    assert one.origin == density.origin
    assert one.frame.shape_xyz == (105, 105, 105)  # ceil(99 * 1.05) + 1
    back = resample_onto(one, density.frame)
    assert back.frame == density.frame
    molecule = contour_mask(read_map(real(REAL_MAPS["3488-mask"])), 0.5, density.frame)
    assert molecule.sum() > 20_000
    corr = np.corrcoef(back.data[molecule], density.data[molecule])[0, 1]
    assert corr > 0.999


@pytest.mark.parametrize(
    "shape,voxel,target",
    [((7, 11, 13), (1.3, 1.3, 1.3), 1.0), ((3, 40, 5), (0.7, 1.1, 2.3), 1.0), ((20, 9, 31), (1.0, 1.0, 1.0), 0.77)],
    ids=["odd-coarser", "anisotropic-thin", "finer"],
)
def test_resample_covers_box_and_keeps_voxel_zero(make_map, shape, voxel, target) -> None:
    density = make_map(shape, voxel_size=voxel, origin=(-5.0, 3.3, 12.0))
    out = resample(density, target)
    assert out.origin == density.origin
    assert all(u >= v - 1e-6 for u, v in zip(out.frame.upper, density.frame.upper, strict=True))
    assert all(u - v < target + 1e-6 for u, v in zip(out.frame.upper, density.frame.upper, strict=True))
    # voxel 0 sits at the same place, so it keeps its value exactly (interpolating splines)
    assert out.data[0, 0, 0] == pytest.approx(float(density.data[0, 0, 0]), abs=1e-4)


@pytest.mark.parametrize("order", [0, 1, 3])
def test_resample_onto_same_frame_is_identity(make_map, order) -> None:
    density = make_map((6, 7, 8), voxel_size=1.2)
    np.testing.assert_array_equal(resample_onto(density, density.frame, order=order).data, density.data)


def test_integer_shift_moves_values_exactly(make_map) -> None:
    """A target grid offset by whole voxels reads the same voxels: frames are honoured exactly."""
    density = make_map((10, 10, 10), voxel_size=1.5, origin=(3.0, 6.0, 9.0))
    shifted = GridFrame((4, 5, 6), (1.5, 1.5, 1.5), (3.0 + 2 * 1.5, 6.0 + 1 * 1.5, 9.0 + 3 * 1.5))
    for order in (0, 1, 3):
        out = resample_onto(density, shifted, order=order)
        np.testing.assert_allclose(out.data, density.data[3:7, 1:6, 2:8], atol=1e-5)


def test_linear_field_is_reproduced_by_linear_and_cubic(make_map) -> None:
    frame = GridFrame((20, 21, 22), (1.1, 0.9, 1.3), (-1.0, 0.0, 0.0))  # target stays 3+ voxels from edges
    z, y, x = np.meshgrid(*(np.arange(n) for n in frame.shape), indexing="ij")
    xyz = frame.index_to_xyz(np.stack([z, y, x], axis=-1))
    field = (0.5 * xyz[..., 0] - 0.25 * xyz[..., 1] + 0.1 * xyz[..., 2]).astype(np.float32)
    density = DensityMap(field, frame)
    target = GridFrame((9, 9, 9), (1.0, 1.0, 1.0), (3.0, 4.0, 5.0))  # inside the box
    tz, ty, tx = np.meshgrid(*(np.arange(n) for n in target.shape), indexing="ij")
    txyz = target.index_to_xyz(np.stack([tz, ty, tx], axis=-1))
    expected = 0.5 * txyz[..., 0] - 0.25 * txyz[..., 1] + 0.1 * txyz[..., 2]
    for order in (1, 3):
        np.testing.assert_allclose(resample_onto(density, target, order=order).data, expected, atol=2e-3)


def test_fill_outside_box(make_map) -> None:
    density = make_map((4, 4, 4))
    bigger = GridFrame((6, 6, 6), (1.0, 1.0, 1.0), (-1.0, -1.0, -1.0))
    out = resample_onto(density, bigger, order=1, fill=-7.0)
    assert out.data[0, 0, 0] == -7.0
    np.testing.assert_allclose(out.data[1:5, 1:5, 1:5], density.data, atol=1e-6)


def test_memory_stays_within_four_times_the_map() -> None:
    """Cubic 1.05 Å -> 1 Å resampling of a 96³ map: peak traced allocation < 4x the input."""
    frame = GridFrame((96, 96, 96), (1.05, 1.05, 1.05))
    density = DensityMap(np.random.default_rng(0).normal(size=frame.shape).astype(np.float32), frame)
    tracemalloc.start()
    try:
        resample(density, 1.0, order=3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * density.data.nbytes, f"peak {peak / density.data.nbytes:.2f}x the input"
