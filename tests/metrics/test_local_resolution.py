"""Local resolution (blocres-like local FSC) on halves with a known truth, made from the real EMD-3488 map.

No real half maps are available (see ../shared/data/real/README.md): the halves are
:func:`~cryoray.preprocessing.synthetic_halves.synthetic_halves` of EMD-3488 (100³ at 1.05 Å),
its left half (x < 52.5 Å) low-passed to 4 Å, its right half to 8 Å, each half with its own
white noise of 3 times the signal's σ (unfiltered, that noise puts the halves' global FSC at
3.3 Å, about the map's deposited 3.2 Å). Voxels are those of the map's contour mask.

Tolerance the box allows: a 24-voxel box measures shells 1 / (24 x 1.05 Å) = 0.040 Å⁻¹ wide
and its window blurs them by about one shell, so signal just inside the cutoff also correlates
a shell beyond it. At the 0.5 threshold the median estimate of a region must lie, in spatial
frequency, between half a shell coarser and one and a half shells finer than its cutoff: 4 Å
reads 3.2–4.3 Å, 8 Å reads 5.4–9.5 Å (we measure about 3.5 Å and 6.3 Å).
"""

from __future__ import annotations

import numpy as np
import pytest

from cryoray.errors import ConfigError, GridMismatchError, MapValueError
from cryoray.io import read_map
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.metrics.local_resolution import LocalResolution, local_resolution
from cryoray.preprocessing.masks import contour_mask
from cryoray.preprocessing.synthetic_halves import SyntheticHalves, synthetic_halves
from tests.support.data import REAL_MAPS, real

BOX = 24
SHELL = 1.0 / (BOX * 1.05)  # the box's shell width, 1/Å
CUTOFFS = (4.0, 8.0)


@pytest.fixture(scope="module")
def emd_3488() -> DensityMap:
    return read_map(real(REAL_MAPS["3488"]))


@pytest.fixture(scope="module")
def mask(emd_3488: DensityMap) -> np.ndarray:
    """The deposited contour mask (on a 100 x 91 x 91 grid), put on the map's grid."""
    return contour_mask(read_map(real(REAL_MAPS["3488-mask"])), 0.5, emd_3488.frame)


@pytest.fixture(scope="module")
def x_index(emd_3488: DensityMap) -> np.ndarray:
    return np.broadcast_to(np.arange(emd_3488.frame.shape[2]), emd_3488.frame.shape)


@pytest.fixture(scope="module")
def two_regions(emd_3488: DensityMap, x_index: np.ndarray) -> SyntheticHalves:
    return synthetic_halves(emd_3488, (x_index >= 50).astype(np.int64), CUTOFFS, noise=3.0, seed=1)


def test_regions_low_passed_to_4_and_8_angstrom_read_near_their_cutoffs(two_regions, mask, x_index) -> None:
    result = local_resolution(two_regions.half1, two_regions.half2, mask=mask, box=BOX, threshold=0.5)
    # Left out: voxels whose box reaches across the seam at x = 50.
    regions = (mask & (x_index < 50 - BOX // 2), mask & (x_index >= 50 + BOX // 2))
    values = [result.map.data[region] for region in regions]
    assert min(len(v) for v in values) > 4000
    for cutoff, v in zip(CUTOFFS, values, strict=True):
        frequency = 1.0 / np.median(v)
        assert 1 / cutoff - 0.5 * SHELL <= frequency <= 1 / cutoff + 1.5 * SHELL, (cutoff, np.median(v))
    first, second = values
    assert np.percentile(first, 95) < np.percentile(second, 5)  # clearly better: the ranges do not overlap
    assert np.median(first) < 0.65 * np.median(second)
    assert np.all(two_regions.truth.data[regions[0]] == 4.0) and np.all(two_regions.truth.data[regions[1]] == 8.0)


def test_identical_halves_read_the_best_the_grid_allows(emd_3488, mask) -> None:
    result = local_resolution(emd_3488, emd_3488, mask=mask, box=BOX)
    assert result.best == pytest.approx(2 * 1.05, abs=1e-4)  # Nyquist of an even box
    assert np.allclose(result.map.data[mask], result.best, atol=1e-4)


@pytest.mark.parametrize("threshold", [0.5, 0.143])
def test_independent_noise_reads_the_worst(emd_3488, mask, threshold) -> None:
    """At 0.5 every box reads the box length; at 0.143 shells of few Fourier voxels sometimes cross by chance."""
    rng = np.random.default_rng(5)
    a, b = (emd_3488.with_data(rng.standard_normal(emd_3488.frame.shape, dtype=np.float32)) for _ in range(2))
    result = local_resolution(a, b, mask=mask, box=BOX, threshold=threshold)
    assert result.worst == pytest.approx(BOX * 1.05, abs=1e-3)
    values = result.map.data[mask]
    if threshold == 0.5:
        assert np.median(values) == pytest.approx(result.worst, abs=1e-3)
        assert np.percentile(values, 5) > 0.75 * result.worst
    else:
        assert np.median(values) > 0.5 * result.worst


def test_result_lies_on_the_input_frame_and_is_zero_outside_the_mask(two_regions, mask) -> None:
    result = local_resolution(two_regions.half1, two_regions.half2, mask=mask, box=BOX)
    assert isinstance(result, LocalResolution)
    assert result.map.frame == two_regions.half1.frame
    assert np.all(result.map.data[~mask] == 0)
    inside = result.map.data[mask]
    assert np.all((inside >= result.best - 1e-4) & (inside <= result.worst + 1e-4))
    assert result.stride == BOX // 4 and result.n_boxes > 0
    assert set(result.percentiles()) == {"p5", "p25", "p50", "p75", "p95"}


def test_small_chunks_give_the_same_map(two_regions, mask) -> None:
    """Memory is bounded by the chunk: one box per batch measures what the default batches do."""
    crop = tuple(slice(30, 70) for _ in range(3))
    frame = GridFrame((40, 40, 40), two_regions.half1.voxel_size, (31.5, 31.5, 31.5))
    halves = [DensityMap(data=h.data[crop], frame=frame) for h in (two_regions.half1, two_regions.half2)]
    whole = local_resolution(*halves, mask=mask[crop], box=16, stride=3)
    tiny = local_resolution(*halves, mask=mask[crop], box=16, stride=3, chunk_mib=1e-3)
    np.testing.assert_allclose(whole.map.data, tiny.map.data, rtol=1e-5)  # batched BLAS may round differently


def test_bad_arguments_and_grids_raise_typed_errors(emd_3488, mask) -> None:
    shifted = DensityMap(data=emd_3488.data, frame=GridFrame(emd_3488.frame.shape, emd_3488.voxel_size, (1, 0, 0)))
    with pytest.raises(GridMismatchError):
        local_resolution(emd_3488, shifted, mask=mask)
    with pytest.raises(MapValueError):
        local_resolution(emd_3488, emd_3488, mask=mask[:50])
    with pytest.raises(MapValueError):
        local_resolution(emd_3488, emd_3488, mask=np.zeros_like(mask))
    for kwargs in ({"box": 4}, {"box": 101}, {"box": 24.0}, {"stride": 0}, {"threshold": 1.0}, {"chunk_mib": 0}):
        with pytest.raises(ConfigError):
            local_resolution(emd_3488, emd_3488, mask=mask, **kwargs)


def test_synthetic_halves_rejects_bad_labels(emd_3488) -> None:
    labels = np.zeros(emd_3488.frame.shape, dtype=np.int64)
    with pytest.raises(ValueError, match="labels"):
        synthetic_halves(emd_3488, labels[:10], [4.0])
    with pytest.raises(ValueError, match="labels"):
        synthetic_halves(emd_3488, labels + 1, [4.0])
    with pytest.raises(ValueError, match="resolution"):
        synthetic_halves(emd_3488, labels, [-4.0])
