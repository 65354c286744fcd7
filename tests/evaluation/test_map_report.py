"""One map's evaluation: EMD-3488 with 5ME2, half maps made from it with independent noise, masks, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cryoray.errors import ConfigError, GridMismatchError, MapValueError
from cryoray.evaluation import evaluate_map, fsc_mask, save_pictures
from cryoray.io import read_map
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.io.models import AtomTable, read_model
from tests.support.data import REAL_MAPS, real


@pytest.fixture(scope="module")
def emd_3488() -> DensityMap:
    return read_map(real(REAL_MAPS["3488"]))


@pytest.fixture(scope="module")
def atoms() -> AtomTable:
    return read_model(real("EMD-3488_5ME2_haemoglobin/5me2.pdb")).atoms()


@pytest.fixture(scope="module")
def halves(emd_3488: DensityMap) -> tuple[DensityMap, DensityMap]:
    """No real half maps are available: the map plus independent noise of its own σ in each half."""
    rng = np.random.default_rng(7)
    sigma = emd_3488.data.std()
    return tuple(
        DensityMap(
            data=(emd_3488.data + rng.normal(0, sigma, emd_3488.data.shape)).astype(np.float32), frame=emd_3488.frame
        )
        for _ in range(2)
    )


def shifted(atoms: AtomTable, dx: float) -> AtomTable:
    return dataclasses.replace(atoms, xyz=atoms.xyz + np.array([dx, 0.0, 0.0]))


def test_report_has_exactly_the_contract_keys(emd_3488, atoms, halves) -> None:
    evaluation = evaluate_map(emd_3488, atoms=atoms, half_maps=halves)
    report = evaluation.to_dict("emd_3488.mrc", "5me2.pdb")
    assert list(report) == ["map", "model", "resolution", "fsc", "map_model_fsc", "cc", "q_score"]
    assert set(report["fsc"]) == set(report["map_model_fsc"]) == {"resolution_0_143", "resolution_0_5", "curve"}
    assert set(report["cc"]) == {"box", "mask", "volume", "peaks"}
    assert list(report["q_score"]) == ["mean", "expected", "per_chain", "per_residue"]
    assert set(report["q_score"]["per_chain"]) == {"A", "B", "C", "D"}
    row = report["q_score"]["per_residue"][0]
    assert list(row) == ["chain", "number", "name", "q_backbone", "q_side_chain", "q"]
    frequency, value, count = report["fsc"]["curve"][3]
    assert 0 < frequency < 0.5 and -1 <= value <= 1 and count > 0
    # the resolution came from the half maps' 0.143 crossing
    assert evaluation.resolution_source == "half-map FSC"
    assert report["resolution"] == pytest.approx(report["fsc"]["resolution_0_143"], abs=1e-3)
    assert 2.5 < report["resolution"] < 6.0


def test_keys_without_inputs_are_omitted(emd_3488, halves) -> None:
    report = evaluate_map(emd_3488, half_maps=halves).to_dict("emd_3488.mrc")
    assert list(report) == ["map", "resolution", "fsc"]
    assert evaluate_map(emd_3488).to_dict("emd_3488.mrc") == {"map": "emd_3488.mrc"}


def test_placed_model_scores_far_above_the_shifted_one(emd_3488, atoms) -> None:
    placed = evaluate_map(emd_3488, atoms=atoms, resolution=3.2)
    moved = evaluate_map(emd_3488, atoms=shifted(atoms, 20.0), resolution=3.2)
    assert placed.cc.cc_mask > 0.5 > moved.cc.cc_mask + 0.3
    assert placed.q.overall > 0.5 > moved.q.overall + 0.3
    assert placed.map_model_fsc.resolution_05 < 5.0
    assert moved.map_model_fsc.resolution_05 is None or moved.map_model_fsc.resolution_05 > 10.0


def test_model_metrics_need_a_resolution(emd_3488, atoms) -> None:
    with pytest.raises(ConfigError, match="resolution"):
        evaluate_map(emd_3488, atoms=atoms)
    with pytest.raises(ConfigError, match=r"0\.5"):
        evaluate_map(emd_3488, atoms=atoms, resolution=0.1)


def test_half_maps_on_another_grid_are_refused(emd_3488, halves) -> None:
    frame = halves[1].frame
    cropped = DensityMap(data=halves[1].data[:90], frame=GridFrame((90, 100, 100), frame.voxel_size, frame.origin))
    with pytest.raises(GridMismatchError, match=r"half2\.mrc"):
        evaluate_map(emd_3488, half_maps=(halves[0], cropped), sources={"half_map_2": "half2.mrc"})


def test_contour_mask_on_its_own_grid_becomes_soft_weights(emd_3488, halves) -> None:
    """EMD-3488's contour mask is 100x91x91 (not the map's 100³): put on the map's grid, edge softened."""
    weights = fsc_mask(read_map(real(REAL_MAPS["3488-mask"])), emd_3488.frame)
    assert weights.shape == emd_3488.frame.shape and weights.dtype == np.float32
    assert weights.max() == 1.0 and weights.min() == 0.0
    assert np.count_nonzero((weights > 0) & (weights < 1)) > 1000  # a soft edge
    unmasked = evaluate_map(emd_3488, half_maps=halves).fsc
    masked = evaluate_map(emd_3488, half_maps=halves, mask=weights).fsc
    assert masked.resolution_0143 < unmasked.resolution_0143  # solvent noise removed
    with pytest.raises(MapValueError, match=r"within \[0, 1\]"):
        fsc_mask(emd_3488, emd_3488.frame)


def test_pictures(tmp_path, emd_3488, atoms, halves) -> None:
    evaluation = evaluate_map(emd_3488, atoms=atoms, half_maps=halves)
    written = save_pictures(tmp_path, evaluation, emd_3488, atoms)
    assert written == ["fsc.png", "q_per_residue.png", "slices.png"]
    for name in written:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
