"""Model comparison: Cα recall / precision / F1, sequence match, TM-score."""

from __future__ import annotations

import gemmi
import numpy as np
import pytest

from cryoray.io.models import read_model
from cryoray.modelbuild import compare_models, match_ca, write_model
from tests.support.data import real

TRUE = "EMD-3488_5ME2_haemoglobin/5me2.pdb"


def test_a_model_against_itself_and_shifted() -> None:
    model = read_model(real(TRUE))
    same = compare_models(model, model)
    assert same.ca_recall == same.ca_precision == same.ca_f1 == 1.0
    assert same.sequence_match == 1.0 and same.tm_score == pytest.approx(1.0, abs=1e-6)
    far = compare_models(model.translated((200.0, 0.0, 0.0)), model)
    assert far.ca_recall == 0.0 and far.ca_f1 == 0.0
    assert far.tm_score == pytest.approx(1.0, abs=1e-6)  # TM-align superposes: the fold is intact


def test_threaded_model_scores(tmp_path, haemoglobin_result) -> None:
    write_model(tmp_path / "pred.cif", haemoglobin_result)
    report = compare_models(read_model(tmp_path / "pred.cif"), read_model(real(TRUE)))
    assert report.n_true == 566 and report.n_pred == 566
    assert report.ca_recall > 0.95 and report.sequence_match > 0.95 and report.tm_score > 0.9
    assert set(report.tm_per_chain) == {"A", "B", "C", "D"}


def test_matching_is_one_to_one_and_closest_first() -> None:
    pred = np.array([[0.0, 0, 0], [0.5, 0, 0], [10.0, 0, 0]])
    true = np.array([[0.4, 0, 0], [2.0, 0, 0]])
    ip, it = match_ca(pred, true, cutoff=3.0)
    assert sorted(zip(ip.tolist(), it.tolist(), strict=True)) == [(0, 1), (1, 0)]


def test_coverage_and_sequence_recall_count_true_residues(tmp_path) -> None:
    """Chain A alone covers its own residues; renaming every other residue halves their sequence recall only."""
    structure = gemmi.read_structure(str(real(TRUE)))
    for name in ("B", "C", "D"):
        structure[0].remove_chain(name)
    renamed = 0
    for i, residue in enumerate(structure[0]["A"]):
        if i % 2 and residue.name != "TRP" and gemmi.find_tabulated_residue(residue.name).is_amino_acid():
            residue.name = "TRP"
            renamed += 1
    structure.write_pdb(str(tmp_path / "chain_a.pdb"))
    true = read_model(real(TRUE))
    report = compare_models(read_model(tmp_path / "chain_a.pdb"), true)
    n_a = report.n_pred
    assert report.residue_coverage == pytest.approx(n_a / report.n_true)
    assert report.sequence_recall == pytest.approx((n_a - renamed) / report.n_true)
    assert report.sequence_match == pytest.approx((n_a - renamed) / n_a)
