"""`cryoray benchmark` on a real local Ray: an enhancement model with a baseline, a building model,
failures listed, results.csv / summary.md / plots, and the results in MLflow (sqlite)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from cryoray.cli.main import main
from cryoray.io import read_map, write_map
from cryoray.io.density_map import DensityMap
from tests.support.data import BAD_INPUTS, REAL

SPIKE = REAL / "EMD-21457_6VYB_spike-NTD-segment"
HAEMOGLOBIN = REAL / "EMD-3488_5ME2_haemoglobin"
#: ray settings small enough for the 2-core machine, as predict-batch's tests use them
SETS = [
    "infer.device=cpu",
    "infer.batch_size=16",
    "actors.cpus_per_predictor=0.5",
    "actors.read_cpus=0.5",
    "actors.finish_cpus=0.25",
    "actors.alignment_cpus=0.25",
    # random networks: P(Cα) hovers around 1/4, so a low threshold still gives candidates
    "build.candidates.threshold=0.26",
]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """The spike segment (with sequence), haemoglobin with half maps (its map plus independent noise:
    no real half maps are available) and a truncated map."""
    folder = tmp_path_factory.mktemp("bench")
    density = read_map(HAEMOGLOBIN / "emd_3488.mrc")
    rng = np.random.default_rng(5)
    for i in (1, 2):
        noisy = density.data + rng.normal(0, density.data.std(), density.data.shape)
        write_map(folder / f"half{i}.mrc", DensityMap(data=noisy.astype(np.float32), frame=density.frame))
    rows = [
        f"EMD-21457,{SPIKE}/emd_21457_seg.mrc,{SPIKE}/6vyb_Ndom.pdb,{SPIKE}/6vyb_seqres.fasta,3.2,,",
        f"EMD-3488,{HAEMOGLOBIN}/emd_3488.mrc,{HAEMOGLOBIN}/5me2.pdb,,3.2,{folder}/half1.mrc,{folder}/half2.mrc",
        f"BROKEN,{BAD_INPUTS}/truncated_data.mrc,{HAEMOGLOBIN}/5me2.pdb,,3.2,,",
    ]
    path = folder / "test.csv"
    path.write_text("entry_id,map,model,sequence,resolution,half_map_1,half_map_2\n" + "\n".join(rows) + "\n")
    return path


def run(capsys, *argv: str) -> dict:
    sets = [item for s in SETS for item in ("--set", s)]
    assert main(["-q", "benchmark", *argv, *sets, "--num-cpus", "2", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def results(folder: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(folder / "results.csv") as handle:
        return {(r["entry_id"], r["kind"]): r for r in csv.DictReader(handle)}


def test_enhancement_model_against_deposited_and_lowpass(ray_local, enhance_checkpoint, manifest, tmp_path, capsys):
    out = tmp_path / "bench"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    report = run(
        capsys,
        str(manifest),
        "--model",
        str(enhance_checkpoint),
        "-o",
        str(out),
        "--baseline",
        "lowpass",
        "--tracking-uri",
        uri,
    )
    assert report["maps"] == ["output"] and report["built"] is False
    assert [f["entry_id"] for f in report["failed"]] == ["BROKEN"] and report["failed"][0]["error"] == "MapFormatError"
    rows = results(out)
    kinds = {"deposited", "lowpass", "enhanced:output"}
    assert set(rows) == {(e, k) for e in ("EMD-21457", "EMD-3488") for k in kinds}
    haemoglobin = rows[("EMD-3488", "deposited")]
    assert 0.5 < float(haemoglobin["cc_mask"]) < 1 and 0.5 < float(haemoglobin["q_score"]) < 1
    assert 2.5 < float(haemoglobin["fsc_0_143"]) < 5  # from the half maps, for the deposited map only
    assert rows[("EMD-3488", "lowpass")]["fsc_0_143"] == ""
    # a random-weight network's map fits the model far worse than the deposited map: the benchmark must say so
    assert float(rows[("EMD-3488", "enhanced:output")]["cc_mask"]) < float(haemoglobin["cc_mask"]) - 0.2
    summary = (out / "summary.md").read_text()
    assert "| CC_mask |" in summary and "deposited (n=2)" in summary and "BROKEN" in summary
    for name in ("paired_lowpass.png", "paired_enhanced_output.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert report["means"]["deposited"]["cc_mask"] == pytest.approx(
        np.mean([float(rows[(e, "deposited")]["cc_mask"]) for e in ("EMD-21457", "EMD-3488")]), abs=1e-3
    )
    run_info = MlflowClient(uri).get_run(report["mlflow_run_id"])
    assert run_info.data.metrics["deposited.cc_mask"] == pytest.approx(report["means"]["deposited"]["cc_mask"])
    assert run_info.data.metrics["n_failed"] == 1
    artifacts = {a.path for a in MlflowClient(uri).list_artifacts(run_info.info.run_id)}
    assert {"results.csv", "summary.md"} <= artifacts


def test_building_model_compared_with_the_deposited_one(ray_local, segformer_checkpoint, manifest, tmp_path, capsys):
    out = tmp_path / "bench"
    report = run(capsys, str(manifest), "--model", str(segformer_checkpoint), "-o", str(out), "--baseline", "peaks")
    assert report["maps"] == [] and report["built"] is True
    rows = results(out)
    built = rows[("EMD-21457", "built model")]  # the one entry with a sequence
    for column in ("ca_recall", "ca_f1", "residue_coverage", "sequence_recall", "tm_score"):
        assert 0.0 <= float(built[column]) <= 1.0
    # the no-network yardstick beside it: density peaks threaded through the same sequence (F1 0.474 on
    # this map, `cryoray build-model --candidates peaks`), only for entries with a sequence
    assert float(rows[("EMD-21457", "built model (peaks)")]["ca_f1"]) == pytest.approx(0.474, abs=0.005)
    assert ("EMD-3488", "built model (peaks)") not in rows
    assert ("EMD-3488", "built model") not in rows and ("EMD-3488", "deposited") in rows
    assert "## Built models" in (out / "summary.md").read_text()


def test_unknown_baseline_and_bad_manifest_exit_2(manifest, tmp_path, capsys, enhance_checkpoint) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("entry_id,map\nX,x.mrc\n")  # no model and resolution columns
    assert main(["benchmark", str(bad), "--model", str(enhance_checkpoint), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model" in err and "bad.csv" in err
    with pytest.raises(SystemExit) as stopped:  # argparse refuses an unknown baseline before anything runs
        main(["benchmark", str(manifest), "--model", str(enhance_checkpoint), "-o", "o", "--baseline", "x"])
    assert stopped.value.code == 2 and "lowpass" in capsys.readouterr().err
