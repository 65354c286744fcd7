"""Normalisation records, contour and zone masks, voxels near atoms, and prepare_map."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cryoray.config import validate_config
from cryoray.errors import ConfigError, MapValueError
from cryoray.io import DensityMap, GridFrame, read_map
from cryoray.io.models import read_model
from cryoray.preprocessing import (
    MaskConfig,
    PrepareConfig,
    apply_normalization,
    contour_mask,
    normalize,
    prepare_map,
    resample,
    zone_mask,
)
from cryoray.preprocessing.config import MAX_MASK_RADIUS
from cryoray.preprocessing.neighbourhood import within_radius
from tests.support.data import REAL_MAPS, real


@pytest.mark.parametrize("percentile", [95.0, 99.999])
def test_normalize_maps_percentile_of_positives_to_one(make_map, percentile) -> None:
    density = make_map((20, 20, 20))
    out, record = normalize(density, percentile=percentile)
    positives = density.data[density.data > 0]
    assert record.scale == pytest.approx(np.percentile(positives, percentile))
    assert out.data.min() == 0.0 and out.data.max() == 1.0
    assert np.mean(out.data[density.data > 0] == 1.0) == pytest.approx(1 - percentile / 100, abs=0.002)
    again = apply_normalization(density, record)
    np.testing.assert_array_equal(again.data, out.data)
    assert density.data.min() < 0  # the input is untouched


def test_normalize_refuses_map_without_positive_density() -> None:
    frame = GridFrame((4, 4, 4), (1.0, 1.0, 1.0))
    with pytest.raises(MapValueError, match="no positive density"):
        normalize(DensityMap(-np.ones(frame.shape, np.float32), frame))


@pytest.mark.parametrize("radius", [0.0, 1.0, 2.5, 7.0])
def test_within_radius_matches_brute_force(radius) -> None:
    frame = GridFrame((9, 10, 11), (1.2, 0.9, 1.0), (-2.0, 1.0, 0.5))
    on_centre = frame.index_to_xyz(np.array([0, 1, 3]))
    atoms = np.array([[0.3, 3.1, 2.2], [5.0, 5.5, 6.1], [-3.0, 1.0, 0.5], [50.0, 50.0, 50.0], on_centre])
    z, y, x = np.meshgrid(*(np.arange(n) for n in frame.shape), indexing="ij")
    centres = frame.index_to_xyz(np.stack([z, y, x], -1).reshape(-1, 3))
    d2 = ((centres[:, None, :] - atoms[None]) ** 2).sum(-1).min(axis=1)
    expected = (d2 <= radius**2).reshape(frame.shape)
    np.testing.assert_array_equal(within_radius(frame, atoms, radius), expected)
    assert expected.sum() >= (1 if radius == 0 else 5)  # one atom sits on a voxel centre


def test_within_radius_of_far_atoms_or_none_is_empty() -> None:
    frame = GridFrame((5, 5, 5), (1.0, 1.0, 1.0))
    assert not within_radius(frame, np.array([[100.0, 0.0, 0.0]]), 3.0).any()
    assert not within_radius(frame, np.zeros((0, 3)), 3.0).any()


def test_zone_mask_at_the_largest_radius_is_fast() -> None:
    """A 20 Å zone (the limit) on a 105³ grid around 4468 atoms took 13 s with a per-offset stencil loop."""
    density = resample(read_map(real(REAL_MAPS["3488"])), 1.0)
    xyz = read_model(real("EMD-3488_5ME2_haemoglobin/5me2.pdb")).atoms().xyz
    t0 = time.perf_counter()
    mask = zone_mask(density.frame, xyz, MAX_MASK_RADIUS)
    assert time.perf_counter() - t0 < 6.0
    assert 0.3 < mask.mean() < 0.6


@pytest.mark.parametrize("radius", [0.0, -1.0, 20.5, 200.0, float("nan")])
def test_mask_radius_is_bounded(radius) -> None:
    with pytest.raises(ConfigError, match="radius"):
        validate_config(MaskConfig, {"model": "m.pdb", "radius": radius}, source="--mask-radius")


def test_zone_mask_around_model_on_emd_3488() -> None:
    density = read_map(real(REAL_MAPS["3488"]))
    model = read_model(real("EMD-3488_5ME2_haemoglobin/5me2.pdb"))
    mask = zone_mask(density.frame, model.atoms().xyz, 3.0)
    inside, outside = density.data[mask], density.data[~mask]
    assert 0.05 < mask.mean() < 0.5
    assert inside.mean() > outside.mean() + 2 * outside.std()


def test_contour_mask_from_a_mask_on_another_grid() -> None:
    """The EMD-3488 contour mask is 91x91x100 voxels; it is sampled onto the 100³ map grid."""
    density = read_map(real(REAL_MAPS["3488"]))
    mask_map = read_map(real(REAL_MAPS["3488-mask"]))
    assert mask_map.frame.shape != density.frame.shape
    mask = contour_mask(mask_map, 0.5, density.frame)
    assert mask.shape == density.frame.shape
    assert density.data[mask].mean() > 3 * density.data.std()  # ~4.7 σ on this map
    with pytest.raises(MapValueError, match="contour"):
        contour_mask(mask_map, 2.0, density.frame)


def test_prepare_map_with_zone_mask_zeroes_outside_and_records() -> None:
    density = read_map(real(REAL_MAPS["3488"]))
    model_path = str(real("EMD-3488_5ME2_haemoglobin/5me2.pdb"))
    config = PrepareConfig(percentile=99.0, mask=MaskConfig(model=model_path, radius=2.0))
    prepared, record = prepare_map(density, config)
    assert prepared.voxel_size == (1.0, 1.0, 1.0)
    zone = zone_mask(prepared.frame, read_model(model_path).atoms().xyz, 2.0)
    assert record.mask_voxels == int(zone.sum())
    assert np.all(prepared.data[~zone] == 0)
    assert (prepared.data[zone] > 0).mean() > 0.5
    assert record.normalization is not None and record.normalization.percentile == 99.0
    assert record.to_dict()["config"]["mask"]["radius"] == 2.0
    assert prepared.labels[-1].startswith("cryoray prepare 1A o3 p99")
