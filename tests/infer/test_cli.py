"""`cryoray enhance`, `segment` and `build-model`: outputs that overlay the input, one-line errors."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import gemmi
import numpy as np
import pytest

from cryoray.cli.main import main
from cryoray.io import read_map
from cryoray.sample import haemoglobin
from tests.support.data import BAD_INPUTS, REAL_MAPS, real

SMALL = real(REAL_MAPS["21457-origin"])  # 48x40x47 @ 1.05 Å, position in ORIGIN


def test_enhance_overlays_the_input(tmp_path, enhance_checkpoint, capsys) -> None:
    out = tmp_path / "enhanced.mrc"
    tiling = ["--tiling", "custom", "--box", "16", "--stride", "14", "--blend", "gaussian"]
    argv = ["enhance", str(SMALL), "-o", str(out), "--model", str(enhance_checkpoint), *tiling, "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    density, enhanced = read_map(SMALL), read_map(out)
    assert enhanced.frame.same_as(density.frame, atol=1e-5) and enhanced.data.shape == density.data.shape
    assert report["frame"] == density.frame.to_dict() and report["prepared_frame"]["voxel_size"] == [1.0] * 3
    assert report["percentile"] == 99.999 and report["boxes"] > 1 and report["device"] == "cpu"
    assert np.isfinite(enhanced.data).all() and enhanced.data.std() > 0
    assert main(argv) == 2  # exists
    assert "already exists" in capsys.readouterr().err
    # two half maps, both through the model
    half = tmp_path / "half.mrc"
    out2 = tmp_path / "from_halves.mrc"
    assert main(["resample", str(SMALL), "-o", str(half), "--like", str(SMALL)]) == 0
    halves = ["--half-maps", str(half), str(SMALL), "--halves", "both"]
    assert main(["enhance", *halves, "-o", str(out2), "--model", str(enhance_checkpoint), *tiling, "--json"]) == 0
    capsys.readouterr()
    # identical halves: the mean of the two passes is the single map's prediction
    np.testing.assert_allclose(read_map(out2).data, enhanced.data, atol=1e-5)
    assert read_map(out2).frame.same_as(density.frame, atol=1e-5)


def test_segment_writes_probability_maps_that_sum_to_one(tmp_path, segformer_checkpoint, capsys) -> None:
    outdir = tmp_path / "seg"
    assert main(["segment", str(SMALL), "-o", str(outdir), "--model", str(segformer_checkpoint), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["heads"]) == {"atom", "amino_acid"} and len(report["maps"]) == 4 + 21
    assert json.loads((outdir / "segment.json").read_text())["maps"] == report["maps"]
    density = read_map(SMALL)
    for head, names in report["heads"].items():
        maps = [read_map(outdir / f"{name}.mrc") for name in names]
        assert all(m.frame.same_as(density.frame, atol=1e-5) for m in maps)
        total = sum(m.data.astype(np.float64) for m in maps)
        np.testing.assert_allclose(total, 1.0, atol=1e-4, err_msg=head)
        assert min(m.data.min() for m in maps) >= 0 and max(m.data.max() for m in maps) <= 1
    assert "atom_CA" in report["heads"]["atom"]


def test_build_model_end_to_end_on_the_sample(tmp_path, segformer_checkpoint, capsys) -> None:
    """Random weights: P(Cα) of this tiny model stays near 0.25-0.31, so the threshold is lowered
    to keep ~1,500 candidates; fewer states than the 566 residues must leave residues unplaced."""
    entry = haemoglobin()
    out = tmp_path / "model.cif"
    argv = ["build-model", str(entry.map), str(entry.sequence), "-o", str(out), "--model", str(segformer_checkpoint)]
    assert main([*argv, "--threshold", "0.28", "--batch-size", "8", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 0 < report["states_clustered"] <= report["candidates"]
    assert report["residues"] == 566 and report["placed"] + report["unplaced"] == 566
    assert report["placed"] <= report["states_clustered"]
    assert sum(c["placed"] for c in report["per_chain"]) == report["placed"]
    if report["states_clustered"] < 566:
        assert report["unplaced"] >= 566 - report["states_clustered"]
    structure = gemmi.read_structure(str(out))
    cas = [a for r in structure[0].all() for a in [r] if a.atom.name == "CA"]
    assert len(cas) == report["placed"]
    density = read_map(entry.map)
    positions = np.array([[a.atom.pos.x, a.atom.pos.y, a.atom.pos.z] for a in cas])
    assert density.frame.contains(positions).all()  # the input's frame, not the 1 Å grid's index space


def _one_line_error(capsys, argv: list[str], expected: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err


def test_bad_inputs_exit_2_with_one_line(tmp_path, enhance_checkpoint, segformer_checkpoint, capsys) -> None:
    out = str(tmp_path / "o.mrc")
    model = ["--model", str(enhance_checkpoint)]
    _one_line_error(capsys, ["enhance", str(tmp_path / "missing.mrc"), "-o", out, *model], "missing.mrc")
    _one_line_error(
        capsys, ["enhance", str(BAD_INPUTS / "truncated_data.mrc"), "-o", out, *model], "truncated_data.mrc"
    )
    _one_line_error(capsys, ["enhance", str(SMALL), "-o", out, "--model", str(tmp_path)], "not a checkpoint directory")
    _one_line_error(capsys, ["enhance", str(SMALL), "-o", out, "--model", "a/b/c"], "no such checkpoint directory")
    _one_line_error(
        capsys,
        ["enhance", str(SMALL), "-o", out, "--model", "nope/3", "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"],
        "no MLflow database",
    )
    _one_line_error(capsys, ["enhance", str(SMALL), "-o", out, "--model", str(segformer_checkpoint)], "regression head")
    _one_line_error(capsys, ["enhance", str(SMALL), "-o", out, *model, "--tiling", "c2s"], "the model takes 16")
    _one_line_error(capsys, ["enhance", "-o", out, *model], "give either MAP or --half-maps")
    _one_line_error(capsys, ["segment", str(SMALL), "-o", str(tmp_path / "s"), *model], "no classification head")
    fasta = haemoglobin().sequence
    _one_line_error(
        capsys,
        ["build-model", str(SMALL), str(fasta), "-o", str(tmp_path / "m.cif"), *model],
        "model building needs heads",
    )
    segformer = ["--model", str(segformer_checkpoint)]
    _one_line_error(
        capsys,
        ["build-model", str(SMALL), str(fasta), "-o", str(tmp_path / "m.cif"), *segformer, "--threshold", "0.99"],
        "no voxel has P(Cα) > 0.99 (highest: 0.",
    )


def _cap_memory() -> None:
    cap = 3 << 29  # 1.5 GiB, as tests/test_bad_inputs.py
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


@pytest.mark.parametrize("bad", ["absurd_dims.mrc", "truncated_gzip.mrc.gz"])
def test_bad_map_fails_before_torch_under_a_memory_cap(tmp_path, enhance_checkpoint, bad) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cryoray.cli.main",
            "enhance",
            str(BAD_INPUTS / bad),
            "-o",
            str(tmp_path / "o.mrc"),
            "--model",
            str(enhance_checkpoint),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=_cap_memory,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and bad in result.stderr
