"""Cross-check of our FSC against servalcat's (CCP-EM, gemmi-based; a test-only dependency) on the same maps.

servalcat's RELION-style binning puts Fourier coefficients in shells round(|s|·L) with L the
longest box edge: the shells of :func:`cryoray.metrics.shell_correlation.fsc`. It correlates complex
amplitudes per shell with ``numpy.corrcoef`` (removing each shell's mean, ~0 away from the
origin) over the reciprocal asymmetric unit (half the sphere), so curves agree closely except in
the shells servalcat merges with a neighbour (fewer than 10 coefficients, or the corner shell).
"""

from __future__ import annotations

import numpy as np
import pytest

from cryoray.io import read_map
from cryoray.io.density_map import DensityMap
from cryoray.metrics.shell_correlation import fsc
from tests.support.data import REAL_MAPS, real

gemmi = pytest.importorskip("gemmi")
servalcat_maps = pytest.importorskip("servalcat.utils.maps", reason="servalcat is a test-only dependency (dev extra)")
servalcat_fsc = pytest.importorskip("servalcat.spa.fsc")


def as_gemmi(density: DensityMap) -> list:
    """A map as servalcat takes it: ``[gemmi grid (x fastest), start]`` with a P1 box cell."""
    grid = gemmi.FloatGrid(np.ascontiguousarray(density.data.transpose(2, 1, 0)))
    nz, ny, nx = density.frame.shape
    vx, vy, vz = density.frame.voxel_size
    grid.set_unit_cell(gemmi.UnitCell(nx * vx, ny * vy, nz * vz, 90, 90, 90))
    grid.spacegroup = gemmi.find_spacegroup_by_name("P1")
    return [grid, [0, 0, 0]]


@pytest.mark.parametrize("label", ["3488", "21457-origin"])  # cubic 100³ and a 48x40x47 box
def test_fsc_matches_servalcat_shell_by_shell(label: str) -> None:
    density = read_map(real(REAL_MAPS[label]))
    rng = np.random.default_rng(3)
    sigma = density.data.std()
    half1, half2 = (
        DensityMap(
            data=(density.data + rng.normal(0, sigma, density.data.shape)).astype(np.float32), frame=density.frame
        )
        for _ in range(2)
    )
    ours = fsc(half1, half2)
    d_min = 2 * max(density.frame.voxel_size) + 1e-3
    hkldata = servalcat_maps.mask_and_fft_maps([as_gemmi(half1), as_gemmi(half2)], d_min)
    hkldata.setup_relion_binning("stat")
    theirs = servalcat_fsc.calc_fsc(hkldata, labs=["F_map1", "F_map2"])
    bins = [(shell, len(index)) for shell, index in hkldata.binned("stat")]
    compared = 0
    for (shell, count), value in zip(bins[1:-1], theirs[1:-1], strict=True):  # not the merged end shells
        if shell < len(ours.fsc) and count >= 50:
            assert value == pytest.approx(ours.fsc[shell], abs=0.01), f"shell {shell}"
            compared += 1
    assert compared >= 10
