"""`cryoray evaluate`: the --json contract, the report folder, one-line errors with exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cryoray.cli.main import main
from cryoray.io import read_map, write_map
from cryoray.io.density_map import DensityMap
from tests.support.data import BAD_INPUTS, REAL_MAPS, real

MAP = str(real(REAL_MAPS["3488"]))
MODEL = str(real("EMD-3488_5ME2_haemoglobin/5me2.pdb"))


@pytest.fixture(scope="module")
def half_maps(tmp_path_factory) -> list[str]:
    """No real half maps are available: EMD-3488 plus independent noise of its own σ in each."""
    folder = tmp_path_factory.mktemp("halves")
    density = read_map(MAP)
    rng = np.random.default_rng(11)
    paths = []
    for i in (1, 2):
        noisy = density.data + rng.normal(0, density.data.std(), density.data.shape)
        paths.append(str(folder / f"half{i}.mrc"))
        write_map(paths[-1], DensityMap(data=noisy.astype(np.float32), frame=density.frame))
    return paths


def test_json_report_and_folder(tmp_path, capsys, half_maps) -> None:
    out = tmp_path / "eval"
    argv = ["evaluate", MAP, "--model", MODEL, "--half-maps", *half_maps, "-o", str(out), "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report) == ["map", "model", "resolution", "fsc", "map_model_fsc", "cc", "q_score"]
    assert report["cc"]["mask"] > 0.5 and report["q_score"]["mean"] > 0.5
    assert sorted(p.name for p in out.iterdir()) == ["fsc.png", "q_per_residue.png", "report.json", "slices.png"]
    assert json.loads((out / "report.json").read_text()) == report
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_plain_summary_with_resolution(capsys) -> None:
    assert main(["evaluate", MAP, "--model", MODEL, "--resolution", "3.2"]) == 0
    lines = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert float(lines["resolution"]) == 3.2
    assert 0.5 < float(lines["cc_mask"]) < 1 and 0.5 < float(lines["q_score"]) < 1
    assert float(lines["q_expected"]) == pytest.approx(-0.1775 * 3.2 + 1.1192, abs=1e-3)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--model", MODEL], "--resolution"),  # model metrics without a resolution
        (["--half-maps", MAP, str(real(REAL_MAPS["3488-mask"]))], "emd_3488_contour_mask.mrc: grid"),
        (["--mask", MAP, "--resolution", "3"], "within [0, 1]"),
        (["--model", str(BAD_INPUTS / "no_atoms.pdb"), "--resolution", "3"], "no_atoms.pdb"),
        (["--model", MODEL, "--resolution", "nan"], "--resolution"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, needle) -> None:
    out = tmp_path / "eval"
    assert main(["evaluate", MAP, *argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing half-written


def test_corrupt_map_and_existing_folder(tmp_path, capsys) -> None:
    assert main(["evaluate", str(BAD_INPUTS / "truncated_data.mrc")]) == 2
    assert "truncated_data.mrc" in capsys.readouterr().err
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["evaluate", MAP, "-o", str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "mine"
