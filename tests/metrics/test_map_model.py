"""Map–model correlations (CC_box, CC_mask, CC_volume, CC_peaks) of 5ME2 in the real EMD-3488 map.

The model map is simulated here (cryoray.labels.simulate) and the mask built by
cryoray.preprocessing.masks: metrics take both as inputs.
"""

from __future__ import annotations

import numpy as np
import pytest

from cryoray.errors import ConfigError, MapValueError
from cryoray.io import read_map
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.io.models import AtomicModel, read_model
from cryoray.labels.simulate import simulate_map
from cryoray.metrics.map_model import MapModelCorrelations, cc_mask_radius, map_model_correlations
from cryoray.preprocessing.masks import zone_mask
from tests.support.data import REAL_MAPS, real

RESOLUTION = 3.2  # EMD-3488


@pytest.fixture(scope="module")
def emd_3488() -> DensityMap:
    return read_map(real(REAL_MAPS["3488"]))


@pytest.fixture(scope="module")
def model() -> AtomicModel:
    return read_model(real("EMD-3488_5ME2_haemoglobin/5me2.pdb"))


def correlations(density: DensityMap, model: AtomicModel) -> tuple[MapModelCorrelations, DensityMap, np.ndarray]:
    """The four CCs of ``model`` in ``density``, with the model map and mask they used."""
    atoms = model.atoms()
    model_map = simulate_map(atoms, density.frame, RESOLUTION)
    mask = zone_mask(density.frame, atoms.xyz, cc_mask_radius(RESOLUTION))
    return map_model_correlations(density, model_map, mask), model_map, mask


def test_a_model_map_with_itself_scores_one(emd_3488: DensityMap, model: AtomicModel) -> None:
    _, model_map, mask = correlations(emd_3488, model)
    result = map_model_correlations(model_map, model_map, mask)
    for value in (result.cc_box, result.cc_mask, result.cc_volume, result.cc_peaks):
        assert value == pytest.approx(1.0, abs=1e-9)
    assert result.n_mask == int(mask.sum())


def test_placed_5me2_beats_the_model_shifted_by_20_angstrom(emd_3488: DensityMap, model: AtomicModel) -> None:
    placed, _, _ = correlations(emd_3488, model)
    shifted, _, _ = correlations(emd_3488, model.translated((20.0, 0.0, 0.0)))
    assert placed.cc_mask > 0.5 and abs(shifted.cc_mask) < 0.1
    for name in ("cc_box", "cc_mask", "cc_volume", "cc_peaks"):
        assert getattr(placed, name) > getattr(shifted, name) + 0.4, name


def test_noise_outside_the_mask_touches_cc_mask_only(emd_3488: DensityMap, model: AtomicModel) -> None:
    """CC_mask sees only mask voxels; CC_box and CC_peaks see the noise added everywhere else."""
    _, model_map, mask = correlations(emd_3488, model)
    rng = np.random.default_rng(3)
    noise = rng.standard_normal(mask.shape).astype(np.float32) * model_map.data.max()
    noisy = model_map.with_data(np.where(mask, model_map.data, noise))
    result = map_model_correlations(noisy, model_map, mask)
    assert result.cc_mask == pytest.approx(1.0, abs=1e-9)
    assert result.cc_box < 0.5 and result.cc_peaks < 0.9


def test_mask_radius_follows_resolution_within_3_to_10_angstrom() -> None:
    assert cc_mask_radius(3.2) == 3.2
    assert cc_mask_radius(1.8) == 3.0
    assert cc_mask_radius(20.9) == 10.0
    with pytest.raises(ConfigError, match="resolution"):
        cc_mask_radius(float("nan"))


def test_mismatched_grids_and_masks_are_refused(emd_3488: DensityMap) -> None:
    other = DensityMap(data=emd_3488.data, frame=GridFrame(emd_3488.frame.shape, (1.0, 1.0, 1.0)))
    mask = np.ones(emd_3488.frame.shape, dtype=bool)
    with pytest.raises(MapValueError, match=r"model\.mrc: grid"):
        map_model_correlations(emd_3488, other, mask, source="model.mrc")
    with pytest.raises(MapValueError, match="boolean"):
        map_model_correlations(emd_3488, emd_3488, mask[:-1])
    with pytest.raises(MapValueError, match="empty"):
        map_model_correlations(emd_3488, emd_3488, np.zeros_like(mask))
