"""CryoRes's labels of one entry: the mask from the model, local resolution from half maps with a known truth.

The halves are synthetic (no real half maps are available): EMD-3488 on its 1.05 Å grid, the part
left of x index 50 low-passed to 4 Å and the rest to 8 Å, independent noise of 3 σ per half (see
tests/metrics/test_local_resolution.py for what the estimator reads there: about 3.5 Å and 6.3 Å).
The labels lie on the 1 Å prepared grid, as ingest makes it.
"""

from __future__ import annotations

import numpy as np
import pytest

from cryoray.errors import EmptyModelError, GridMismatchError
from cryoray.io import read_map
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.io.models import read_model
from cryoray.labels.cryores import CryoResLabels, cryores_grids, cryores_labels, molecule_mask
from cryoray.preprocessing.synthetic_halves import synthetic_halves
from tests.support.data import REAL_MAPS, real

GLOBAL = 3.2  # EMD-3488's deposited resolution, Å
BOX = 24


@pytest.fixture(scope="module")
def emd_3488() -> DensityMap:
    return read_map(real(REAL_MAPS["3488"]))


@pytest.fixture(scope="module")
def atoms():
    return read_model(real("EMD-3488_5ME2_haemoglobin/5me2.pdb")).atoms()


@pytest.fixture(scope="module")
def labels(emd_3488, atoms) -> CryoResLabels:
    x_index = np.broadcast_to(np.arange(emd_3488.frame.shape[2]), emd_3488.frame.shape)
    halves = synthetic_halves(emd_3488, (x_index >= 50).astype(np.int64), (4.0, 8.0), noise=3.0, seed=1)
    return cryores_labels([halves.half1, halves.half2], atoms, emd_3488.frame.with_voxel_size(1.0), GLOBAL, box=BOX)


def test_mask_covers_the_model_and_little_else(atoms, emd_3488) -> None:
    frame = emd_3488.frame.with_voxel_size(1.0)
    mask = molecule_mask(atoms, frame)
    assert mask.shape == frame.shape and mask.dtype == bool
    index = frame.nearest_voxel(atoms.xyz)
    index = index[frame.contains_index(index)]
    assert mask[index[:, 0], index[:, 1], index[:, 2]].mean() > 0.99  # (nearly) every atom's voxel
    # about the molecule's volume: 1.21 Å³ per dalton, 4,468 atoms of about 13 Da (hydrogens included)
    assert 55_000 < mask.sum() < 90_000
    assert molecule_mask(atoms, frame, contour=0.02).sum() > mask.sum() > molecule_mask(atoms, frame, contour=0.2).sum()


def test_grids_on_the_prepared_grid(labels: CryoResLabels, emd_3488) -> None:
    frame = emd_3488.frame.with_voxel_size(1.0)
    grids = labels.grids()
    assert set(grids) == {"global_resolution", "relative_resolution", "molecule_mask"}
    assert all(g.shape == frame.shape for g in grids.values())
    assert labels.local.frame == frame
    assert grids["molecule_mask"].dtype == np.uint8 and set(np.unique(grids["molecule_mask"])) == {0, 1}
    np.testing.assert_array_equal(grids["global_resolution"], np.float32(GLOBAL))
    inside = grids["molecule_mask"] == 1
    assert np.all(grids["relative_resolution"][~inside] == 0)
    np.testing.assert_allclose(grids["relative_resolution"][inside], labels.local.data[inside] - GLOBAL, atol=1e-5)


def test_local_resolution_reads_each_region_near_its_cutoff(labels: CryoResLabels, emd_3488) -> None:
    """Left (4 Å) finer than right (8 Å), each within the box's tolerance (one shell of 1/24 Å⁻¹ here)."""
    frame = emd_3488.frame.with_voxel_size(1.0)
    x = frame.origin[0] + np.arange(frame.shape[2]) * frame.voxel_size[0]
    seam = emd_3488.frame.origin[0] + 50 * emd_3488.frame.voxel_size[0]  # Å
    x_grid = np.broadcast_to(x, frame.shape)
    inside = labels.mask
    left = labels.local.data[inside & (x_grid < seam - BOX / 2)]
    right = labels.local.data[inside & (x_grid >= seam + BOX / 2)]
    assert min(len(left), len(right)) > 2000
    assert 3.0 < np.median(left) < 4.5
    assert 5.3 < np.median(right) < 9.5
    assert np.median(left) + 1.5 < np.median(right)


def test_halves_on_different_grids_are_refused(emd_3488, atoms) -> None:
    moved = DensityMap(emd_3488.data, GridFrame(emd_3488.frame.shape, emd_3488.voxel_size, (2.0, 0.0, 0.0)))
    with pytest.raises(GridMismatchError):
        cryores_labels([emd_3488, moved], atoms, emd_3488.frame, GLOBAL)


def test_a_model_outside_the_map_has_no_mask(emd_3488, atoms) -> None:
    far = GridFrame((16, 16, 16), (1.0, 1.0, 1.0), (1000.0, 1000.0, 1000.0))
    with pytest.raises(EmptyModelError, match="no atom"):
        molecule_mask(atoms, far)


def test_grids_by_kind(atoms, emd_3488) -> None:
    frame = emd_3488.frame.with_voxel_size(1.0)
    grids = cryores_grids(["molecule_mask", "global_resolution"], atoms, frame, GLOBAL)  # no half maps needed
    assert list(grids) == ["molecule_mask", "global_resolution"]
    np.testing.assert_array_equal(grids["molecule_mask"], molecule_mask(atoms, frame).astype(np.uint8))
    with pytest.raises(ValueError, match="half maps"):
        cryores_grids(["relative_resolution"], atoms, frame, GLOBAL)
    with pytest.raises(ValueError, match="atom"):
        cryores_grids(["atom"], atoms, frame, GLOBAL)
