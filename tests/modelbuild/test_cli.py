"""`cryoray align` and `cryoray compare-models`: outputs, JSON keys, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cryoray.cli.main import main
from cryoray.modelbuild import write_states
from tests.support.data import real

CRYORAY = str(Path(sys.executable).with_name("cryoray"))
TRUE = "EMD-3488_5ME2_haemoglobin/5me2.pdb"


@pytest.fixture
def inputs(tmp_path, haemoglobin_case) -> tuple[Path, Path]:
    case = haemoglobin_case
    write_states(tmp_path / "states.npz", case.states)
    fasta = tmp_path / "seq.fasta"
    fasta.write_text(
        "".join(f">{c}\n{s}\n" for c, s in zip(case.chain_ids, case.sequences, strict=True)).replace(
            ">A\n", ">1ABC_1|Chains A|x\n"
        )
    )
    return tmp_path / "states.npz", fasta


def test_align_then_compare(tmp_path, inputs, capsys) -> None:
    states, fasta = inputs
    out = tmp_path / "model.cif"
    assert main(["align", str(states), str(fasta), "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == str(out) and report["placed"] == report["residues"] == 566
    assert report["reused_states"] == 0 and report["upper_bound"] >= report["log_score"]
    assert [c["chain"] for c in report["per_chain"]] == ["A", "B", "C", "D"]
    assert main(["compare-models", str(out), str(real(TRUE)), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    for key in ("ca_recall", "ca_precision", "ca_f1", "sequence_match", "tm_score"):
        assert 0.9 < scores[key] <= 1.0, key
    assert main(["align", str(states), str(fasta), "-o", str(tmp_path / "model.pdb")]) == 0
    assert "log_score" in capsys.readouterr().out


def _one_line_error(capsys, argv: list[str], expected: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err


def test_align_bad_inputs_exit_2_with_one_line(tmp_path, inputs, capsys) -> None:
    states, fasta = inputs
    out = str(tmp_path / "m.cif")
    arrays = dict(np.load(states))
    arrays["xyz"][7, 0] = np.nan
    np.savez(tmp_path / "nan.npz", **arrays)
    _one_line_error(
        capsys, ["align", str(tmp_path / "nan.npz"), str(fasta), "-o", out], "nan.npz: xyz: 1 NaN/Inf values"
    )
    (tmp_path / "dup.fasta").write_text(">A,B\nMKV\n>1ABC_2|Chains B|y\nGG\n")
    _one_line_error(
        capsys, ["align", str(states), str(tmp_path / "dup.fasta"), "-o", out], "chain 'B' is named by two records"
    )
    (tmp_path / "empty.fasta").write_text(">A\n\n")
    _one_line_error(capsys, ["align", str(states), str(tmp_path / "empty.fasta"), "-o", out], "has no sequence")
    (tmp_path / "letters.fasta").write_text(">A\nMK1V\n")
    _one_line_error(
        capsys, ["align", str(states), str(tmp_path / "letters.fasta"), "-o", out], "invalid residue letter '1'"
    )
    _one_line_error(capsys, ["align", str(states), str(fasta), "-o", out, "--std-lambda", "-1"], "std_lambda")
    Path(out).write_text("x")
    _one_line_error(capsys, ["align", str(states), str(fasta), "-o", out], "already exists")


def test_align_subprocess_smoke(tmp_path, inputs) -> None:
    states, fasta = inputs
    proc = subprocess.run(
        [CRYORAY, "align", str(states), str(fasta), "-o", str(tmp_path / "m.pdb"), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["placed"] == 566
