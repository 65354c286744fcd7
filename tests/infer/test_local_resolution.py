"""CryoRes's post-processing: (global + relative) × mask, exactly on the input's frame; a whole map through the core."""

from __future__ import annotations

import numpy as np
import pytest

from cryoray.errors import ConfigError
from cryoray.infer import InferConfig, Predictor
from cryoray.infer.local_resolution import aggregate_local_resolution, local_resolution_map, predict_local_resolution
from cryoray.io.density_map import DensityMap, GridFrame
from tests.support.models import identity_predictor, write_cryores_bundle

#: an input map's frame: anisotropic voxels, an origin off zero, sides that differ
SOURCE = GridFrame(shape=(9, 11, 13), voxel_size=(1.3, 1.2, 1.1), origin=(3.5, -2.0, 10.25))
#: the prepared grid (1 Å, same origin) covering it, as inference predicts on
PREPARED = GridFrame(shape=(12, 15, 19), voxel_size=(1.0, 1.0, 1.0), origin=SOURCE.origin)
#: the molecule probability falls linearly along x over the prepared box: 1 at its first voxel, 0 at its last
RAMP_LENGTH = PREPARED.shape[2] - 1.0


def _prepared(values: np.ndarray | float) -> DensityMap:
    return DensityMap(np.broadcast_to(np.float32(values), PREPARED.shape).copy(), PREPARED)


def _ramp() -> DensityMap:
    x = np.arange(PREPARED.shape[2], dtype=np.float32)
    return _prepared(1.0 - x / RAMP_LENGTH)


def test_aggregate_adds_the_baseline_and_zeroes_outside_the_mask() -> None:
    global_ = np.full((2, 2), 4.0)
    relative = np.array([[-1.0, 0.5], [2.0, 3.0]])
    probability = np.array([[0.9, 0.5], [0.49, 0.0]])
    got = aggregate_local_resolution(global_, relative, probability)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [[3.0, 4.5], [0.0, 0.0]])
    np.testing.assert_array_equal(aggregate_local_resolution(global_, relative, probability, threshold=0.95), 0.0)


@pytest.mark.parametrize(("threshold", "shapes"), [(0.0, None), (1.5, None), (0.5, ((2,), (2,), (3,)))])
def test_aggregate_refuses_bad_thresholds_and_shapes(threshold: float, shapes: tuple | None) -> None:
    g, r, m = (np.zeros(s) for s in (shapes or ((2,), (2,), (2,))))
    with pytest.raises(ValueError, match="threshold" if shapes is None else "shapes differ"):
        aggregate_local_resolution(g, r, m, threshold=threshold)


def test_result_lies_exactly_on_the_input_frame() -> None:
    out = local_resolution_map(_prepared(4.0), _prepared(1.5), _ramp(), SOURCE)
    assert out.frame == SOURCE
    assert (out.frame.shape, out.frame.voxel_size, out.frame.origin) == (SOURCE.shape, SOURCE.voxel_size, SOURCE.origin)
    assert out.data.shape == SOURCE.shape and out.data.dtype == np.float32


def test_mask_is_thresholded_on_the_input_voxels() -> None:
    """Inside: global + relative; outside: 0; the edge where the input's own x passes the ramp's midpoint."""
    out = local_resolution_map(_prepared(4.0), _prepared(1.5), _ramp(), SOURCE)
    x = SOURCE.origin[0] + SOURCE.voxel_size[0] * np.arange(SOURCE.shape[2])  # Å of the input's voxel centres
    inside_x = 1.0 - (x - SOURCE.origin[0]) / RAMP_LENGTH >= 0.5  # trilinear reproduces a linear ramp
    assert 0 < inside_x.sum() < inside_x.size  # the edge crosses the box
    expected = np.where(np.broadcast_to(inside_x, SOURCE.shape), 5.5, 0.0)
    np.testing.assert_allclose(out.data, expected, atol=1e-5)


def test_local_variation_survives_and_follows_the_axes() -> None:
    """A relative resolution varying along z (the first array axis) comes back varying along z only."""
    z = np.arange(PREPARED.shape[0], dtype=np.float32)[:, None, None]
    relative = _prepared(np.broadcast_to(0.25 * z, PREPARED.shape))
    out = local_resolution_map(_prepared(3.0), relative, _prepared(1.0), SOURCE)
    z_source = SOURCE.voxel_size[2] * np.arange(SOURCE.shape[0])  # Å from the origin along z
    # cubic splines reproduce a ramp up to their edge handling ('nearest'): about 2e-3 here
    np.testing.assert_allclose(out.data[:, 0, 0], 3.0 + 0.25 * z_source, atol=5e-3)
    np.testing.assert_allclose(out.data, np.broadcast_to(out.data[:, :1, :1], SOURCE.shape), atol=1e-5)


@pytest.fixture(scope="module")
def cryores_predictor(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    directory = write_cryores_bundle(tmp_path_factory.mktemp("bundles") / "cryores")
    return Predictor.from_checkpoint(directory, device="cpu")


def test_whole_map_through_the_inference_core(cryores_predictor: Predictor) -> None:
    """A random-weight tiny CryoRes bundle: the result is the aggregate of the stitched heads, on the input's frame."""
    rng = np.random.default_rng(0)
    density = DensityMap(rng.normal(size=SOURCE.shape).astype(np.float32), SOURCE)
    out, prediction = predict_local_resolution(density, cryores_predictor, InferConfig(device="cpu"))
    assert out.frame == SOURCE and out.data.shape == SOURCE.shape
    assert prediction.names() == ["global", "relative", "mask_background", "mask_molecule"]
    assert prediction.tiling.box == 16 and prediction.tiling.stride == 8  # the bundle's tiling
    expected = aggregate_local_resolution(
        prediction.on_source_frame("global").data,
        prediction.on_source_frame("relative").data,
        prediction.on_source_frame("mask_molecule").data,
    )
    np.testing.assert_array_equal(out.data, expected)
    inside = prediction.on_source_frame("mask_molecule").data >= 0.5
    assert np.all(out.data[~inside] == 0) and np.all(out.data[inside] != 0)


def test_a_model_without_cryores_heads_is_refused() -> None:
    density = DensityMap(np.zeros(SOURCE.shape, dtype=np.float32), SOURCE)
    with pytest.raises(ConfigError, match=r"not a CryoRes model.*output \(1 channels\)"):
        predict_local_resolution(density, identity_predictor(16))
