"""Resampling: frames kept, round trips, odd shapes, bounded memory."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from cryoray.config import validate_config
from cryoray.errors import ConfigError, MapTooLargeError
from cryoray.io import DensityMap, GridFrame, read_map
from cryoray.io.mrc import MAX_VOXELS
from cryoray.preprocessing import PrepareConfig, contour_mask, prepare_map, resample, resample_onto
from cryoray.preprocessing.resample import resampled_frame
from tests.support.data import REAL_MAPS, real


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


@pytest.mark.parametrize(
    "voxel_size,target,message",
    [(1000.0, 1.0, "about 3.43e\\+11 voxels"), (2.0, 0.01, "about 2.75e\\+09"), (2.0, 1e-300, "uncountably many")],
    ids=["1000A-voxels", "0.01A-target", "1e-300A-target"],
)
def test_resample_refuses_huge_grids_before_allocating(make_map, voxel_size, target, message) -> None:
    """An 8³ map (2 KB) would become terabytes; it is refused with the limit named, allocating nothing big."""
    density = make_map((8, 8, 8), voxel_size=voxel_size)
    tracemalloc.start()
    try:
        with pytest.raises(MapTooLargeError, match=f"{message}.*above the limit of {MAX_VOXELS}") as info:
            resample(density, target, source="tiny.mrc")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(info.value).startswith("tiny.mrc: ")
    assert peak < 1 << 20


def test_voxel_limit_is_exact_and_configurable(make_map) -> None:
    density = make_map((8, 8, 8), voxel_size=2.0)
    n = resampled_frame(density.frame, 1.0).n_voxels
    assert n == 15**3
    assert resample(density, 1.0, max_voxels=n).frame.n_voxels == n
    with pytest.raises(MapTooLargeError, match="15x15x15 = 3375 voxels, above the limit of 3374"):
        resample(density, 1.0, max_voxels=n - 1)
    with pytest.raises(MapTooLargeError, match="target grid"):
        resample_onto(density, GridFrame((20, 20, 20), (1.0, 1.0, 1.0)), max_voxels=7999)


def test_prepare_map_checks_its_configured_limit(make_map) -> None:
    density = make_map((8, 8, 8), voxel_size=100.0)  # 701³ voxels (1.4 GB) at 1 Å
    with pytest.raises(MapTooLargeError, match=r"about 3.44e\+08 voxels, above the limit of 100000000"):
        prepare_map(density, PrepareConfig(max_voxels=100_000_000), source="m.mrc")


@pytest.mark.parametrize("value", [math.inf, math.nan, 0.0, -1.0])
def test_prepare_config_refuses_non_finite_or_non_positive_voxel_size(value) -> None:
    with pytest.raises(ConfigError, match="voxel_size"):
        validate_config(PrepareConfig, {"voxel_size": value}, source="run.yaml")
