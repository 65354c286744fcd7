"""The no-network baseline: density peaks threaded with uniform amino acids (build-model --candidates peaks)."""

from __future__ import annotations

import numpy as np
import pytest

from cryoray.cli.main import main
from cryoray.io import read_map
from cryoray.io.density_map import DensityMap
from cryoray.io.models import read_model
from cryoray.modelbuild import StatesFormatError, compare_models, read_chains, write_model
from cryoray.modelbuild.peaks import build_from_peaks, peak_candidates
from tests.support.data import real

FOLDER = "EMD-3488_5ME2_haemoglobin"


def test_peaks_of_emd_3488_trace_much_of_5me2(tmp_path) -> None:
    """0.57 Cα F1 on the 2-core machine: most Cα sit on a density peak at 3.2 Å; residue types are chance."""
    density = read_map(real(f"{FOLDER}/emd_3488.mrc"))
    report = build_from_peaks(density, read_chains(real(f"{FOLDER}/5me2_seqres.fasta")))
    assert report.candidates > 566 and report.states <= report.candidates
    write_model(tmp_path / "peaks.cif", report.result)
    scores = compare_models(read_model(tmp_path / "peaks.cif"), read_model(real(f"{FOLDER}/5me2.pdb")))
    assert scores.ca_f1 > 0.45
    assert scores.sequence_match < 0.2  # uniform amino acids: about 1 in 20 by chance


def test_noise_has_no_peaks_above_a_high_level() -> None:
    rng = np.random.default_rng(0)
    noise = read_map(real(f"{FOLDER}/emd_3488.mrc"))
    flat = DensityMap(data=rng.normal(size=noise.data.shape).astype(np.float32), frame=noise.frame)
    assert len(peak_candidates(flat, sigma=2.0)) > 100  # noise has peaks at 2 σ...
    with pytest.raises(StatesFormatError, match="no density peak above 8 σ"):
        peak_candidates(flat, sigma=8.0)  # ...but none at 8 σ


def test_command_line_without_a_model(tmp_path, capsys) -> None:
    argv = ["build-model", str(real(f"{FOLDER}/emd_3488.mrc")), str(real(f"{FOLDER}/5me2_seqres.fasta"))]
    assert main([*argv, "-o", str(tmp_path / "b.cif"), "--candidates", "peaks", "--json"]) == 0
    assert '"candidates_from": "peaks"' in capsys.readouterr().out
    assert (tmp_path / "b.cif").is_file()
    # --amino-model completes a --model; without one (the shipped builder) it is refused
    assert main([*argv, "-o", str(tmp_path / "c.cif"), "--amino-model", "x"]) == 2
    assert "--amino-model" in capsys.readouterr().err
    assert main([*argv, "-o", str(tmp_path / "d.cif"), "--candidates", "peaks", "--model", "x"]) == 2
    assert not (tmp_path / "c.cif").exists() and not (tmp_path / "d.cif").exists()
