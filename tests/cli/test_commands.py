"""The CLI contract: registry, --help, --json outputs, exit codes, one-line errors."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import gemmi
import numpy as np
import pytest

from cryoray.cli.main import COMMANDS, main
from cryoray.io import read_map
from cryoray.sample import haemoglobin
from tests.support.data import REAL_MAPS, real

CRYORAY = str(Path(sys.executable).with_name("cryoray"))


def run_json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_follows_the_module_contract(name, capsys) -> None:
    module = importlib.import_module(f"cryoray.cli.{name.replace('-', '_')}")
    assert callable(module.add_args) and callable(module.main)
    assert module.__doc__.strip().splitlines()[0]
    assert "Example usage" in module.__doc__
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert "usage: cryoray " + name in capsys.readouterr().out


def test_info_map_json_has_contract_keys(capsys) -> None:
    info = run_json(capsys, "info", str(real(REAL_MAPS["8249-negstart"])))
    for key in ("shape", "voxel_size", "origin", "axis_order", "mode", "min", "max", "mean", "std"):
        assert key in info
    assert info["shape"] == [24, 24, 24]
    assert info["origin"] == pytest.approx([-63.36] * 3, abs=1e-3)
    assert info["axis_order"] == [1, 2, 3] and info["mode"] == 2


def test_info_non_cubic_reports_xyz_order(capsys) -> None:
    info = run_json(capsys, "info", str(real(REAL_MAPS["21457-origin"])))
    assert info["shape"] == [48, 40, 47]


def test_info_model_and_sequence(capsys) -> None:
    model = run_json(capsys, "info", str(real("EMD-3488_5ME2_haemoglobin/5me2.pdb")))
    assert model["kind"] == "model" and model["n_ca"] == 566 and model["chains"] == ["A", "B", "C", "D"]
    fasta = run_json(capsys, "info", str(real("EMD-3488_5ME2_haemoglobin/5me2_seqres.fasta")))
    assert [r["chains"] for r in fasta["records"]] == [["A", "C"], ["B", "D"]]


def test_fit_json(capsys) -> None:
    report = run_json(capsys, "fit", str(real(REAL_MAPS["3488"])), str(real("EMD-3488_5ME2_haemoglobin/5me2.pdb")))
    assert report["n_ca"] == 566 and report["fraction_inside"] == 1.0
    assert report["mean_sigma_at_ca"] == pytest.approx(7.4, abs=0.1)


def test_prepare_then_resample_back(tmp_path, capsys) -> None:
    src = str(real(REAL_MAPS["3488"]))
    out = tmp_path / "prepared.mrc"
    record = run_json(capsys, "prepare", src, "-o", str(out), "--percentile", "99.999")
    assert record["frame"]["voxel_size"] == [1.0, 1.0, 1.0]
    assert record["normalization"]["percentile"] == 99.999
    prepared = read_map(out)
    assert prepared.data.min() >= 0 and prepared.data.max() <= 1
    assert prepared.origin == read_map(src).origin
    back = tmp_path / "back.mrc"
    run_json(capsys, "resample", str(out), "-o", str(back), "--like", src)
    assert read_map(back).frame.same_as(read_map(src).frame)


def test_bad_config_value_exits_2_naming_the_option(tmp_path, capsys) -> None:
    code = main(["prepare", str(real(REAL_MAPS["3488"])), "-o", str(tmp_path / "x.mrc"), "--voxel-size", "-1"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "voxel_size" in err
    assert not (tmp_path / "x.mrc").exists()


def test_mask_options_validated(tmp_path, capsys) -> None:
    code = main(["prepare", str(real(REAL_MAPS["3488"])), "-o", str(tmp_path / "x.mrc"), "--mask-map", "m.mrc"])
    assert code == 2
    assert "contour" in capsys.readouterr().err


def test_existing_output_is_not_overwritten(tmp_path, capsys) -> None:
    out = tmp_path / "o.mrc"
    out.write_bytes(b"keep me")
    assert main(["prepare", str(real(REAL_MAPS["8249-negstart"])), "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"


def test_demo_runs_main_job_on_bundled_sample(ray_local, tmp_path, capsys) -> None:
    summary = run_json(capsys, "demo", "-o", str(tmp_path / "run"), "--num-cpus", "2", "--epochs", "1")
    assert summary["fit"]["mean_sigma_at_ca"] == pytest.approx(7.4, abs=0.1)
    assert summary["fit_model_shifted_20A"]["mean_sigma_at_ca"] < 0.5
    assert summary["roundtrip_correlation"]["inside_molecule"] > 0.99
    assert summary["store"]["n_entries"] == 1 and summary["store"]["n_subgrids"] == 39
    for name in summary["outputs"]:
        assert (tmp_path / "run" / name).stat().st_size > 0
    png = (tmp_path / "run" / "slices.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    prepared = read_map(tmp_path / "run" / "prepared.mrc")
    assert np.isclose(prepared.data.max(), 1.0)
    for run in summary["training"].values():  # the atom + amino-acid classifier and the enhancer
        assert run["metrics"]["epoch"] == 1 and run["metrics"]["step"] > 0
        assert (Path(run["best_checkpoint"]) / "model.safetensors").stat().st_size > 0
        assert run["tracking_uri"] == f"sqlite:///{tmp_path / 'run' / 'runs' / 'mlflow.db'}"
    source = read_map(haemoglobin().map).frame
    enhanced = read_map(tmp_path / "run" / "enhanced.mrc")
    assert enhanced.frame.same_as(source)  # overlays the input in ChimeraX
    ca = read_map(tmp_path / "run" / "segment" / "atom_CA.mrc")
    assert ca.frame.same_as(source) and ca.data.min() >= 0.0 and ca.data.max() <= 1.0
    inference = summary["inference"]
    built = gemmi.read_structure(str(tmp_path / "run" / "model.cif"))
    n_ca = sum(1 for chain in built[0] for residue in chain if residue.find_atom("CA", "*"))
    assert n_ca == inference["build"]["placed"] > 0
    assert inference["build"]["placed"] + inference["build"]["unplaced"] == 566
    assert inference["compare"]["n_pred"] == n_ca and 0.0 <= inference["compare"]["ca_f1"] <= 1.0
    # the yardsticks of the same run: the input map's scores, and the no-network model
    assert inference["evaluate_input"]["cc"]["mask"] == pytest.approx(0.6187, abs=1e-3)
    assert -1.0 <= inference["evaluate_enhanced"]["cc"]["mask"] <= 1.0
    assert inference["compare_peaks"]["ca_f1"] > 0.45
    # the shipped builder (trained without EMD-3488) beats the no-network model on it
    assert inference["build"]["models"] == ["default:builder"] and inference["enhance"]["model"] == "default:enhancer"
    assert inference["compare"]["ca_f1"] >= inference["compare_peaks"]["ca_f1"] + 0.05


def test_console_script_smoke(tmp_path) -> None:
    """The installed `cryoray` program: success prints JSON; bad input exits 2, one line, no traceback."""
    ok = subprocess.run([CRYORAY, "info", str(real(REAL_MAPS["3197"])), "--json"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["shape"] == [20, 20, 20]
    bad = subprocess.run([CRYORAY, "info", str(tmp_path / "missing.map")], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [f"cryoray info: error: {tmp_path / 'missing.map'}: no such file"]


def test_prepare_config_file_with_flag_override(tmp_path, capsys) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("prepare:\n  voxel_size: 2.0\n  percentile: 90\n  order: 1\n")
    record = run_json(
        capsys,
        "prepare",
        str(real(REAL_MAPS["8249-negstart"])),
        "-o",
        str(tmp_path / "p.mrc"),
        "--config",
        str(config),
        "--percentile",
        "99",
    )
    assert record["config"]["voxel_size"] == 2.0 and record["config"]["order"] == 1
    assert record["config"]["percentile"] == 99.0


@pytest.mark.parametrize(
    "yaml_text,needle",
    [
        ("prepare:\n  voxel_sise: 1.0\n", "prepare.voxel_sise"),
        ("prepare:\n  order: 2\n", "prepare.order"),
        ("prepare:\n  mask: {map: m.mrc}\n", "contour"),
        ("other: 1\n", "missing top-level section 'prepare'"),
        ("prepare: [1, 2\n", "not valid YAML"),
    ],
    ids=["unknown-key", "bad-order", "mask-without-contour", "no-section", "broken-yaml"],
)
def test_bad_config_file_exits_2_naming_key_and_file(tmp_path, capsys, yaml_text, needle) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text)
    code = main(
        ["prepare", str(real(REAL_MAPS["8249-negstart"])), "-o", str(tmp_path / "p.mrc"), "--config", str(config)]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert needle in err and str(config) in err


def test_simulate_like_map_overlays_it(tmp_path, capsys) -> None:
    like = str(real(REAL_MAPS["3488"]))
    model = str(real("EMD-3488_5ME2_haemoglobin/5me2.pdb"))
    out = tmp_path / "sim.mrc"
    result = run_json(capsys, "simulate", model, "-o", str(out), "--resolution", "3.2", "--like", like)
    assert result["n_atoms"] == 4468
    simulated, experimental = read_map(out), read_map(like)
    assert simulated.frame.same_as(experimental.frame)
    assert np.corrcoef(simulated.data.ravel(), experimental.data.ravel())[0, 1] > 0.5
    assert main(["simulate", model, "-o", str(tmp_path / "x.mrc"), "--resolution", "0"]) == 2
    assert "--resolution" in capsys.readouterr().err
    noisy = tmp_path / "noisy.mrc"
    run_json(capsys, "simulate", model, "-o", str(noisy), "--resolution", "3.2", "--like", like, "--noise", "1")
    assert 0.3 < np.corrcoef(read_map(noisy).data.ravel(), simulated.data.ravel())[0, 1] < 0.95
    assert main(["simulate", model, "-o", str(tmp_path / "y.mrc"), "--resolution", "3", "--noise", "-1"]) == 2
    assert "--noise" in capsys.readouterr().err
