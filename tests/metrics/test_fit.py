"""The fit check on real maps and models: placement, header variants, negative controls."""

from __future__ import annotations

import pytest

from cryoray.errors import ModelPlacementError
from cryoray.io import read_map
from cryoray.io.models import read_model
from cryoray.metrics import fit_check
from tests.support.data import REAL_MAPS, real

SEG = "EMD-21457_6VYB_spike-NTD-segment/"


def test_three_header_variants_of_emd_21457_agree() -> None:
    """Position in ORIGIN, in NSTART, or origin 0 with a shifted model: one answer."""
    reports = [
        fit_check(read_map(real(REAL_MAPS["21457-origin"])), read_model(real(SEG + "6vyb_Ndom.pdb"))),
        fit_check(read_map(real(REAL_MAPS["21457-nstart"])), read_model(real(SEG + "6vyb_Ndom.pdb"))),
        fit_check(read_map(real(REAL_MAPS["21457-orig0"])), read_model(real(SEG + "6vyb_Ndom_shifted.pdb"))),
    ]
    for report in reports:
        assert report.n_ca == 198
        assert report.fraction_inside == 1.0
        assert report.mean_sigma_at_ca == pytest.approx(reports[0].mean_sigma_at_ca, abs=0.01)
    assert reports[0].mean_sigma_at_ca == pytest.approx(2.5, abs=0.1)


def test_emd_3488_with_5me2_and_shifted_control() -> None:
    density = read_map(real(REAL_MAPS["3488"]))
    model = read_model(real("EMD-3488_5ME2_haemoglobin/5me2.pdb"))
    placed = fit_check(density, model)
    assert placed.n_ca == 566 and placed.fraction_inside == 1.0
    assert placed.mean_sigma_at_ca == pytest.approx(7.4, abs=0.1)
    shifted = fit_check(density, model.translated((20.0, 0.0, 0.0)))
    assert shifted.mean_sigma_at_ca < 0.5


@pytest.mark.parametrize(
    "map_label,model,sigma",
    [
        ("0093-gz", "EMD-0093_6GYN_HCN4-masked/6gyn.pdb", 19.0),
        ("1883", "EMD-1883_RNA-PolII/1WCM_map_fitted.pdb", 3.9),
        ("8249-negstart", "EMD-8249_5KHE_rubella-capsid/regression_pdb5khe.pdb", 3.6),
    ],
    ids=["0093-masked-gzip", "1883-low-res", "8249-negative-nstart"],
)
def test_reference_fit_values(map_label, model, sigma) -> None:
    report = fit_check(read_map(real(REAL_MAPS[map_label])), read_model(real(model)))
    assert report.fraction_inside == 1.0
    assert report.mean_sigma_at_ca == pytest.approx(sigma, abs=0.1)


def test_unplaced_model_is_detected() -> None:
    """Raw 1WCM is not in the EMD-1883 frame: half its CA atoms are outside and on no density."""
    report = fit_check(read_map(real(REAL_MAPS["1883"])), read_model(real("EMD-1883_RNA-PolII/1WCM.pdb")))
    assert report.fraction_inside < 0.6
    assert abs(report.mean_sigma_at_ca) < 0.5


def test_model_entirely_outside_raises() -> None:
    density = read_map(real(REAL_MAPS["8249-negstart"]))
    model = read_model(real("EMD-8249_5KHE_rubella-capsid/regression_pdb5khe.pdb")).translated((1000.0, 0.0, 0.0))
    with pytest.raises(ModelPlacementError, match="no CA atom lies in the map"):
        fit_check(density, model)
