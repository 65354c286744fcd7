"""`cryoray import-weights`: the published checkpoints become bundles that reproduce their tools' outputs,
and enhance / segment / build-model run them with the tools' conventions (or the options given)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cryoray.bundle import read_bundle
from cryoray.cli import import_weights as command
from cryoray.cli.main import main
from cryoray.infer.importing import FORMATS, import_weights
from cryoray.io import DensityMap, GridFrame, read_map, write_map
from cryoray.preprocessing.tiling import PRESETS
from cryoray.train.targets import CLASS_NAMES
from tests.support.data import REAL_MAPS, real

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "published_networks"
#: --format -> the reference files' stem
STEMS = {"cryoten": "cryoten", "cryo2struct-atom": "cryo2struct_atom", "cryo2struct-amino": "cryo2struct_amino"}
RUBELLA = real(REAL_MAPS["8249-negstart"])  # 24³ at 5.28 Å: 123³ voxels on the 1 Å grid
RUBELLA_FASTA = RUBELLA.parent / "5khe_seqres.fasta"


def reference(fmt: str, kind: str = "ckpt") -> Path:
    """The shared checkpoint (``ckpt``) or its reference input and output (``io``) of a format."""
    path = REFERENCE / (f"{STEMS[fmt]}_shared.ckpt" if kind == "ckpt" else f"{STEMS[fmt]}_shared_io.npz")
    assert path.is_file(), f"missing {path}: ../shared must sit beside the repository"
    return path


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> dict[str, tuple[Path, float]]:
    """Each shared checkpoint imported and checked against its reference output: bundle, max |difference|."""
    out = tmp_path_factory.mktemp("bundles")
    results = {}
    for fmt in STEMS:
        report = import_weights(reference(fmt), fmt, out / fmt, check_io=reference(fmt, "io"))
        results[fmt] = (Path(report.bundle), report.max_abs_diff)
    return results


@pytest.mark.parametrize("fmt", list(STEMS))
def test_shared_checkpoints_reproduce_their_reference_outputs(imported, fmt) -> None:
    """Through the bundle and the Predictor the front ends use (CPU, fp32, raw outputs)."""
    path, difference = imported[fmt]
    assert difference <= 1e-5
    bundle = read_bundle(path)
    (head,) = bundle.heads
    preprocessing = bundle.preprocessing
    assert preprocessing.voxel_size == 1.0 and preprocessing.blend == "constant"
    if fmt == "cryoten":
        assert bundle.network["name"] == "cryoten" and bundle.network["dims"] == [8, 16, 32, 64]  # read off the shapes
        assert (head.label, head.class_names, head.activation) == ("simulated", None, "none")
        assert preprocessing.percentile == 99.999 and preprocessing.tiling == PRESETS["cryoten-eval"]
        assert (preprocessing.tiling.box, preprocessing.tiling.stride) == (48, 38)
    else:
        label = "atom" if fmt == "cryo2struct-atom" else "amino_acid"
        assert bundle.network["num_heads"] == 4  # from the hyper-parameters (the shapes do not fix it)
        assert (head.label, head.class_names, head.activation) == (label, CLASS_NAMES[label], "softmax")
        assert preprocessing.percentile == 95.0 and preprocessing.tiling == PRESETS["c2s"]
        assert (preprocessing.ca_threshold, preprocessing.cluster_radius) == (0.4, 2.0)
    source = bundle.provenance["source"]
    assert source["path"] == str(reference(fmt).resolve()) and len(source["sha256"]) == 64


def test_cli_reports_json_and_refuses_to_overwrite(tmp_path, capsys) -> None:
    out = tmp_path / "cryoten"
    argv = ["import-weights", str(reference("cryoten")), "--format", "cryoten", "-o", str(out)]
    assert main([*argv, "--check-io", str(reference("cryoten", "io")), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"format", "parameters", "bundle", "max_abs_diff"}
    assert report["bundle"] == str(out) and report["max_abs_diff"] <= 1e-5 and report["parameters"] > 0
    assert sorted(p.name for p in out.iterdir()) == ["bundle.json", "model.safetensors"]
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err


def test_failed_check_writes_nothing(tmp_path, capsys) -> None:
    with np.load(reference("cryoten", "io")) as npz:
        np.savez(tmp_path / "off.npz", input=npz["input"], output=npz["output"] + 1e-3)
    out = tmp_path / "cryoten"
    argv = ["import-weights", str(reference("cryoten")), "--format", "cryoten", "-o", str(out)]
    assert main([*argv, "--check-io", str(tmp_path / "off.npz"), "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["bundle"] is None and json.loads(captured.out)["max_abs_diff"] > 1e-4
    assert len(captured.err.strip().splitlines()) == 1 and "no bundle written" in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["off.npz"]  # no bundle, no staging folder left


class Payload:
    """Any class of one's own in a checkpoint: loading it would run pickle."""


def test_checkpoint_that_needs_pickle_is_refused(tmp_path, capsys) -> None:
    checkpoint = tmp_path / "custom.ckpt"
    state = torch.load(reference("cryoten"), weights_only=True, map_location="cpu")["state_dict"]
    torch.save({"state_dict": state, "hyper_parameters": Payload()}, checkpoint)
    assert main(["import-weights", str(checkpoint), "--format", "cryoten", "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "needs pickle to load" in err and "Payload" in err and "refused" in err
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    ("source", "fmt", "message"),
    [
        ("cryo2struct-atom", "cryo2struct-amino", "4 output channels; cryo2struct-amino models have 21"),
        ("cryoten", "cryo2struct-atom", "not a Cryo2Struct (atoms) checkpoint: tensors outside `model.*`"),
        ("cryo2struct-atom", "cryoten", "not a CryoTEN checkpoint"),
    ],
)
def test_checkpoint_of_another_model_is_refused(tmp_path, capsys, source, fmt, message) -> None:
    assert main(["import-weights", str(reference(source)), "--format", fmt, "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err


def test_cli_format_names_are_the_library_formats() -> None:
    assert tuple(FORMATS) == command.FORMATS


def _run(capsys, argv: list[str]) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_enhance_runs_with_the_cryoten_conventions(imported, tmp_path, capsys) -> None:
    """On the central 16³ of the rubella capsid map (85³ on the 1 Å grid: 8 boxes of 48³)."""
    density = read_map(RUBELLA)
    origin = np.asarray(density.frame.origin) + 4 * np.asarray(density.frame.voxel_size)
    crop = tmp_path / "crop.mrc"
    write_map(crop, DensityMap(density.data[4:20, 4:20, 4:20], GridFrame((16,) * 3, density.frame.voxel_size, origin)))
    bundle = str(imported["cryoten"][0])
    report = _run(capsys, ["enhance", str(crop), "-o", str(tmp_path / "e.mrc"), "--model", bundle])
    assert report["boxes"] == 8
    assert report["percentile"] == 99.999 and report["tiling"] == "cryoten-eval"
    assert {k: report["preprocessing"][k] for k in ("percentile", "box", "stride")} == {
        "percentile": 99.999,
        "box": 48,
        "stride": 38,
    }
    assert set(report["preprocessing_from"].values()) == {"bundle"} and report["bundle_overridden"] == {}
    argv = ["enhance", str(crop), "-o", str(tmp_path / "o.mrc"), "--model", bundle, "--percentile", "99.9"]
    report = _run(capsys, [*argv, "--stride", "40"])
    assert report["preprocessing"]["percentile"] == 99.9 and report["preprocessing"]["stride"] == 40
    assert report["preprocessing_from"]["percentile"] == "option" and report["preprocessing_from"]["stride"] == "option"
    assert report["preprocessing_from"]["box"] == "bundle"
    assert report["bundle_overridden"] == {"percentile": 99.999, "stride": 38, "tiling": "cryoten-eval"}


def test_segment_and_build_model_run_with_the_cryo2struct_conventions(imported, tmp_path, capsys) -> None:
    """A coarser grid (an option, recorded as one) keeps the random-weight network's work small."""
    atom, amino = (str(imported[f][0]) for f in ("cryo2struct-atom", "cryo2struct-amino"))
    argv = ["segment", str(RUBELLA), "-o", str(tmp_path / "seg"), "--model", atom, "--voxel-size", "4"]
    report = _run(capsys, argv)
    assert report["heads"] == {"output": [f"output_{name}" for name in CLASS_NAMES["atom"]]}
    assert report["tiling"] == "c2s" and report["preprocessing"]["percentile"] == 95.0
    assert report["preprocessing_from"]["percentile"] == "bundle" and report["bundle_overridden"] == {"voxel_size": 1.0}
    argv = ["build-model", str(RUBELLA), str(RUBELLA_FASTA), "-o", str(tmp_path / "m.cif"), "--model", atom]
    report = _run(capsys, [*argv, "--amino-model", amino, "--voxel-size", "3", "--threshold", "0.6"])
    assert report["placed"] > 0 and report["preprocessing"]["core"] == 20
    assert report["preprocessing"]["ca_threshold"] == 0.6 and report["preprocessing"]["cluster_radius"] == 2.0
    assert (
        report["preprocessing_from"]["cluster_radius"] == "bundle" and report["preprocessing_from"]["core"] == "bundle"
    )
    assert report["bundle_overridden"] == {"voxel_size": 1.0, "ca_threshold": 0.4}
