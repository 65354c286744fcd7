"""FSC on the real EMD-3488 map: self, independent noise, half-map-like pairs, masks and bad grids.

No real half maps are available (see ../shared/data/real/README.md): pairs are made from the real
map, low-passed to a known resolution, plus independent Gaussian noise in each copy.
"""

from __future__ import annotations

import numpy as np
import pytest

from cryoray.errors import MapValueError
from cryoray.io import read_map
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.io.models import read_model
from cryoray.metrics.shell_correlation import crossing_resolution, fsc, soft_edge_mask
from cryoray.preprocessing.masks import zone_mask
from tests.support.data import REAL_MAPS, real

SHELL = 1.0 / (100 * 1.05)  # shell width in 1/Å on EMD-3488's 100³ grid of 1.05 Å


@pytest.fixture(scope="module")
def emd_3488() -> DensityMap:
    return read_map(real(REAL_MAPS["3488"]))


@pytest.fixture(scope="module")
def molecule_mask(emd_3488: DensityMap) -> np.ndarray:
    """5ME2's atoms plus 3 Å, with a 6 Å raised-cosine edge."""
    atoms = read_model(real("EMD-3488_5ME2_haemoglobin/5me2.pdb")).atoms()
    return soft_edge_mask(zone_mask(emd_3488.frame, atoms.xyz, 3.0), emd_3488.frame, 6.0)


def low_passed(density: DensityMap, resolution: float) -> np.ndarray:
    """The map with every Fourier component beyond 1/resolution set to zero (a hard low-pass)."""
    f = np.fft.rfftn(density.data)
    nz, ny, nx = density.frame.shape
    vx, vy, vz = density.voxel_size
    s2 = (
        np.fft.fftfreq(nz, vz)[:, None, None] ** 2
        + np.fft.fftfreq(ny, vy)[None, :, None] ** 2
        + np.fft.rfftfreq(nx, vx)[None, None, :] ** 2
    )
    f[s2 > resolution**-2] = 0
    return np.fft.irfftn(f, s=density.data.shape, axes=(0, 1, 2)).astype(np.float32)


def noisy_pair(density: DensityMap, signal: np.ndarray, noise_ratio: float, seed: int) -> tuple[DensityMap, DensityMap]:
    """Two copies of ``signal`` with independent Gaussian noise of ``noise_ratio`` times its standard deviation."""
    rng = np.random.default_rng(seed)
    sd = noise_ratio * float(signal.std())
    return tuple(
        density.with_data(signal + sd * rng.standard_normal(signal.shape).astype(np.float32)) for _ in range(2)
    )  # type: ignore[return-value]


def test_a_map_with_itself_is_one_in_every_shell(emd_3488: DensityMap) -> None:
    curve = fsc(emd_3488, emd_3488)
    assert len(curve.fsc) == 51  # shells 0..50: Nyquist is 50 shells of 1/105 Å⁻¹
    np.testing.assert_allclose(curve.fsc, 1.0, atol=1e-5)
    assert curve.resolution_0143 is None and curve.resolution_05 is None
    assert curve.frequency[-1] == pytest.approx(1 / 2.1, rel=1e-6)
    assert curve.n_voxels[0] == 1 and np.all(curve.n_voxels[1:] > 0)


def test_independent_noise_maps_correlate_about_zero(emd_3488: DensityMap) -> None:
    rng = np.random.default_rng(7)
    a, b = (emd_3488.with_data(rng.standard_normal(emd_3488.data.shape).astype(np.float32)) for _ in range(2))
    curve = fsc(a, b)
    bound = 3.0 / np.sqrt(curve.n_voxels[1:])
    assert np.all(np.abs(curve.fsc[1:]) < bound)
    assert curve.resolution_0143 is not None and curve.resolution_0143 > 20.0  # falls at the first shells


@pytest.mark.parametrize("resolution", [6.0, 8.0])
def test_low_passed_real_map_with_noise_crosses_0143_at_its_resolution(emd_3488: DensityMap, resolution) -> None:
    """Signal ends at 1/R and the noise is white: the crossing lies within one shell (1/105 Å⁻¹) of 1/R."""
    a, b = noisy_pair(emd_3488, low_passed(emd_3488, resolution), 2.0, seed=int(resolution))
    curve = fsc(a, b)
    assert curve.resolution_0143 is not None
    assert abs(1 / curve.resolution_0143 - 1 / resolution) <= SHELL
    assert curve.resolution_05 is not None and curve.resolution_05 >= curve.resolution_0143


def test_a_mask_on_the_molecule_removes_solvent_noise(emd_3488: DensityMap, molecule_mask: np.ndarray) -> None:
    """With heavy noise, a mask around the model raises the FSC below 1/R; a mask on empty solvent lowers it."""
    resolution = 6.0
    a, b = noisy_pair(emd_3488, low_passed(emd_3488, resolution), 8.0, seed=1)
    plain = fsc(a, b)
    band = (plain.frequency > 0) & (plain.frequency < 1 / resolution)
    masked = fsc(a, b, mask=molecule_mask)
    assert np.all(masked.fsc[band] > plain.fsc[band])
    assert masked.fsc[band].mean() > plain.fsc[band].mean() + 0.2
    solvent = np.zeros(emd_3488.frame.shape, dtype=bool)
    solvent[:20, :20, :20] = True  # a corner of the box more than 12 Å from every atom
    empty = fsc(a, b, mask=soft_edge_mask(solvent, emd_3488.frame, 6.0))
    assert empty.fsc[band].mean() < plain.fsc[band].mean() - 0.2
    everything = fsc(a, b, mask=np.ones(emd_3488.frame.shape, dtype=np.float32))
    np.testing.assert_allclose(everything.fsc, plain.fsc, atol=1e-6)


def test_soft_edge_falls_from_one_to_zero_over_its_width() -> None:
    frame = GridFrame(shape=(1, 1, 21), voxel_size=(2.0, 2.0, 2.0))
    inside = np.zeros(frame.shape, dtype=bool)
    inside[0, 0, :5] = True
    edge = soft_edge_mask(inside, frame, 8.0)[0, 0]
    assert np.all(edge[:5] == 1.0)
    np.testing.assert_allclose(edge[5:9], 0.5 * (1 + np.cos(np.pi * np.array([2.0, 4.0, 6.0, 8.0]) / 8.0)), atol=1e-6)
    assert np.all(edge[8:] == 0.0)


def test_crossing_is_interpolated_linearly_in_frequency() -> None:
    frequency = np.array([0.0, 0.1, 0.2, 0.3])
    assert crossing_resolution(frequency, np.array([1.0, 0.9, 0.5, 0.1]), 0.3) == pytest.approx(1 / 0.25)
    assert crossing_resolution(frequency, np.array([1.0, 0.9, 0.8, 0.7]), 0.5) is None
    assert crossing_resolution(frequency, np.array([1.0, 0.1, 0.8, 0.7]), 0.5) is None  # below at the first shell
    # the zero frequency (the maps' means) is left out: opposite means do not make a crossing
    assert crossing_resolution(frequency, np.array([-1.0, 0.9, 0.5, 0.1]), 0.3) == pytest.approx(1 / 0.25)


def test_maps_on_different_grids_are_refused(emd_3488: DensityMap) -> None:
    moved = DensityMap(
        data=emd_3488.data, frame=GridFrame(emd_3488.frame.shape, emd_3488.voxel_size, origin=(1.05, 0.0, 0.0))
    )
    with pytest.raises(MapValueError, match="differs from the first map's grid"):
        fsc(emd_3488, moved, source="half2.mrc")
    with pytest.raises(MapValueError, match="mask shape"):
        fsc(emd_3488, emd_3488, mask=np.ones((10, 10, 10), dtype=np.float32))
    with pytest.raises(MapValueError, match=r"within \[0, 1\]"):
        fsc(emd_3488, emd_3488, mask=np.full(emd_3488.frame.shape, 2.0, dtype=np.float32))
