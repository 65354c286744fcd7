"""The Cα heatmap label: peaks of 1 at Cα atoms on real models, Gaussian fall-off, nothing else painted."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cryoray.io import GridFrame
from cryoray.io.models import read_model
from cryoray.labels import ca_heatmap
from tests.support.data import REAL


def test_peaks_sit_on_the_ca_atoms_of_5me2() -> None:
    atoms = read_model(REAL / "EMD-3488_5ME2_haemoglobin" / "5me2.pdb").atoms()
    ca = atoms.xyz[atoms.is_ca & atoms.is_amino_acid]
    lo = ca.min(axis=0) - 5
    shape = tuple(int(n) for n in np.ceil(ca.max(axis=0) + 5 - lo)[::-1])
    frame = GridFrame(shape, (1.0, 1.0, 1.0), tuple(lo))
    heat = ca_heatmap(frame, atoms)
    assert heat.dtype == np.float32 and heat.shape == frame.shape
    assert heat.min() >= 0.0 and heat.max() <= 1.0
    # at each Cα's nearest voxel the value is exp(-d²/2) with d ≤ √3/2 Å: at least 0.68
    values = heat[tuple(frame.nearest_voxel(ca).T)]
    assert values.min() > 0.68
    # far (> 3σ) from every Cα: exactly 0; a Cα heatmap is sparse (a few per cent of this box)
    assert 0.005 < (heat > 0).mean() < 0.2
    # an N atom 1.46 Å away from its Cα sees about exp(-1.46²/2) ≈ 0.34, far below the peak
    n_atoms = atoms.xyz[atoms.atom_name == "N"]
    assert np.median(heat[tuple(frame.nearest_voxel(n_atoms).T)]) < 0.6


def test_exact_values_and_refusals() -> None:
    frame = GridFrame((9, 9, 9), (1.0, 1.0, 1.0))
    atoms = read_model(REAL / "EMD-3488_5ME2_haemoglobin" / "5me2.pdb").atoms()
    first = np.flatnonzero(atoms.is_ca & atoms.is_amino_acid)[0]
    one = atoms.select(np.arange(len(atoms)) == first)
    # move the Cα to (4, 4, 4) Å: voxel (4, 4, 4) holds 1, one voxel away exp(-1/2)
    moved = dataclasses.replace(one, xyz=np.array([[4.0, 4.0, 4.0]]))
    heat = ca_heatmap(frame, moved, sigma=1.0)
    assert heat[4, 4, 4] == pytest.approx(1.0)
    assert heat[4, 4, 5] == pytest.approx(np.exp(-0.5), rel=1e-6)
    assert heat[4, 4, 8] == 0.0  # 4 Å > 3σ
    with pytest.raises(ValueError, match="sigma"):
        ca_heatmap(frame, moved, sigma=0.0)
    assert not ca_heatmap(frame, atoms.select(~atoms.is_ca)).any()  # no Cα, nothing painted
