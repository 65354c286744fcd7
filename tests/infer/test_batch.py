"""Batch inference on a real local Ray: outputs on each input's grid, failures listed with their
reasons, re-runs skip finished entries, HTTP (EMDB-layout) inputs and ``s3://`` outputs."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import numpy as np
import pytest
import s3fs

from cryoray.infer.batch import done_entries, run_batch_inference
from cryoray.infer.batch_config import BatchInferConfig
from cryoray.io import read_map
from tests.support.data import BAD_INPUTS, REAL
from tests.support.servers import emdb_layout, http_server

SPIKE = "EMD-21457_6VYB_spike-NTD-segment"
ENTRIES = {
    # entry: (map, sequence) relative to shared/data/real; small maps (27 boxes of 32³ each), the
    # same voxels with the position in ORIGIN, in NSTART, and none; haemoglobin's sequence (short)
    "EMD-21457": (f"{SPIKE}/emd_21457_seg.mrc", "EMD-3488_5ME2_haemoglobin/5me2_seqres.fasta"),
    "EMD-21457-nstart": (f"{SPIKE}/emd_21457_seg_nstart.mrc", ""),
    "EMD-21457-orig0": (f"{SPIKE}/emd_21457_seg_orig0.mrc", ""),
}


def write_manifest(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text("entry_id,map,sequence\n" + "".join(f"{e},{m},{s}\n" for e, m, s in rows))
    return path


def config(checkpoint: Path, **changes: object) -> BatchInferConfig:
    settings = {
        "models": [str(checkpoint)],
        "infer": {"batch_size": 16, "device": "cpu"},
        "outputs": {"maps": ["atom_CA"]},
        # a random network: P(Cα) hovers around 1/4, so a low threshold still gives candidates
        "build": {"candidates": {"threshold": 0.26}},
        "actors": {
            "predictors": 1,
            "cpus_per_predictor": 0.5,
            "read_cpus": 0.5,
            "finish_cpus": 0.25,
            "alignment_cpus": 0.25,
        },
        "retries": 1,
    } | changes
    return BatchInferConfig.model_validate(settings)


@pytest.fixture(scope="module")
def local_run(ray_local, segformer_checkpoint, tmp_path_factory) -> tuple[Path, Path, dict]:
    tmp = tmp_path_factory.mktemp("batch")
    rows = [(e, REAL / m, REAL / s if s else "") for e, (m, s) in ENTRIES.items()]
    rows += [
        ("BROKEN-MAP", BAD_INPUTS / "truncated_data.mrc", ""),
        ("MISSING-MAP", tmp / "absent.mrc", ""),
        ("BAD-SEQUENCE", REAL / ENTRIES["EMD-21457"][0], BAD_INPUTS / "bad_letters.fasta"),
    ]
    manifest = write_manifest(tmp / "manifest.csv", rows)
    out = tmp / "out"
    report = run_batch_inference(str(manifest), str(out), config(segformer_checkpoint))
    return manifest, out, report


def test_good_entries_done_bad_ones_listed_with_reasons(local_run) -> None:
    _, out, report = local_run
    assert sorted(report["done"]) == sorted(ENTRIES)
    reasons = {f["entry_id"]: f["error"] for f in report["failed"]}
    assert reasons == {
        "BROKEN-MAP": "MapFormatError",
        "MISSING-MAP": "SourceError",
        "BAD-SEQUENCE": "SequenceFormatError",
    }
    assert json.loads((out / "failures.json").read_text()) == report["failed"]
    assert all(f["reason"] for f in report["failed"])
    assert json.loads((out / "run_summary.json").read_text())["n_done"] == 3
    # the bundle's preprocessing, the config's threshold
    assert report["preprocessing_from"]["percentile"] == "bundle" and report["preprocessing"]["percentile"] == 95.0
    assert report["preprocessing_from"]["ca_threshold"] == "option" and report["preprocessing"]["ca_threshold"] == 0.26
    assert done_entries(str(out)) == set(ENTRIES)
    assert not list(out.rglob(".cryoray-*"))  # no temporary files left behind


def test_outputs_overlay_their_inputs(local_run) -> None:
    _, out, _ = local_run
    for entry, (map_path, _) in ENTRIES.items():
        source = read_map(REAL / map_path)
        prob = read_map(out / entry / "atom_CA.mrc")
        assert prob.frame.same_as(source.frame), entry
        assert prob.data.min() >= 0.0 and prob.data.max() <= 1.0 + 1e-5
        summary = json.loads((out / entry / "summary.json").read_text())
        assert summary["status"] == "done" and summary["source_frame"] == source.frame.to_dict()


def test_model_built_for_the_entry_with_a_sequence(local_run) -> None:
    _, out, _ = local_run
    assert (out / "EMD-21457" / "model.cif").is_file()
    assert not (out / "EMD-21457-nstart" / "model.cif").exists()
    summary = json.loads((out / "EMD-21457" / "summary.json").read_text())
    assert summary["build"]["states"] > 0 and summary["build"]["model"]["chains"]
    assert summary["outputs"]["model"].endswith("EMD-21457/model.cif")


def test_rerun_skips_finished_entries_and_retries_failed(local_run, segformer_checkpoint) -> None:
    manifest, out, _ = local_run
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.parent != out}
    report = run_batch_inference(str(manifest), str(out), config(segformer_checkpoint))
    assert report["skipped_already_done"] == sorted(ENTRIES)
    assert report["done"] == []
    assert sorted(f["entry_id"] for f in report["failed"]) == ["BAD-SEQUENCE", "BROKEN-MAP", "MISSING-MAP"]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.parent != out} == mtimes


def test_http_inputs_to_s3_output(ray_local, s3_endpoint, segformer_checkpoint, tmp_path) -> None:
    root = tmp_path / "emdb"
    layout = emdb_layout(
        root, {"EMD-21457": REAL / ENTRIES["EMD-21457"][0], "EMD-21458": REAL / ENTRIES["EMD-21457-nstart"][0]}
    )
    boto3.client("s3").create_bucket(Bucket="batch-out")
    with http_server(root) as base:
        manifest = write_manifest(tmp_path / "m.csv", [(e, f"{base}/{rel}", "") for e, rel in layout.items()])
        cfg = config(segformer_checkpoint, outputs={"maps": ["atom_CA", "amino_acid_ALA"]})
        report = run_batch_inference(str(manifest), "s3://batch-out/run", cfg)
        assert sorted(report["done"]) == ["EMD-21457", "EMD-21458"] and report["failed"] == []
        fs = s3fs.S3FileSystem()
        assert fs.exists("batch-out/run/EMD-21457/summary.json") and fs.exists("batch-out/run/failures.json")
        prob = read_map("s3://batch-out/run/EMD-21458/amino_acid_ALA.mrc")
        assert prob.frame.same_as(read_map(REAL / ENTRIES["EMD-21457-nstart"][0]).frame)
        assert done_entries("s3://batch-out/run") == {"EMD-21457", "EMD-21458"}
        again = run_batch_inference(str(manifest), "s3://batch-out/run", cfg)
        assert again["skipped_already_done"] == ["EMD-21457", "EMD-21458"] and again["done"] == []


def test_enhancement_model_writes_the_enhanced_map(ray_local, enhance_checkpoint, tmp_path) -> None:
    source = REAL / ENTRIES["EMD-21457-orig0"][0]
    manifest = write_manifest(tmp_path / "m.csv", [("EMD-21457", source, "")])
    out = tmp_path / "out"
    report = run_batch_inference(str(manifest), str(out), config(enhance_checkpoint, outputs={"maps": "all"}))
    assert report["done"] == ["EMD-21457"] and report["outputs"] == ["output"]
    enhanced = read_map(out / "EMD-21457" / "output.mrc")
    assert enhanced.frame.same_as(read_map(source).frame)
    assert np.isfinite(enhanced.data).all()


def test_large_map_in_slabs_on_two_predictors_equals_it_whole(ray_local, enhance_checkpoint, tmp_path) -> None:
    """``actors.slab_voxels`` below the map's size: the map goes to the predictors in z-slabs (16³
    boxes, 50 sections: 3 slabs), on two actors (which gets which is timing: the slabs are short
    here; bench_batch_infer shows a large map's slabs shared), merged by the finish task; the
    enhanced map is the one the whole map gives, and no slab file is left under the output."""
    source = REAL / ENTRIES["EMD-21457-orig0"][0]
    manifest = write_manifest(tmp_path / "m.csv", [("EMD-21457", source, "")])
    outputs = {}
    slabs = {"slab_voxels": 15 * 42 * 51, "predictors": 2}
    for name, actors in {"whole": {}, "slabs": slabs}.items():
        cfg = config(enhance_checkpoint, outputs={"maps": "all"})
        cfg = cfg.model_copy(update={"actors": cfg.actors.model_copy(update=actors)})
        report = run_batch_inference(str(manifest), str(tmp_path / name), cfg)
        assert report["done"] == ["EMD-21457"], report
        summary = json.loads((tmp_path / name / "EMD-21457" / "summary.json").read_text())
        assert summary["n_slabs"] == (3 if name == "slabs" else 1), summary
        outputs[name] = read_map(tmp_path / name / "EMD-21457" / "output.mrc")
        assert sorted(p.name for p in (tmp_path / name).rglob("*")) == sorted(
            ["EMD-21457", "output.mrc", "summary.json", "failures.json", "run_summary.json"]
        )
    assert outputs["slabs"].frame.same_as(outputs["whole"].frame)
    np.testing.assert_allclose(outputs["slabs"].data, outputs["whole"].data, rtol=1e-5, atol=1e-6)


def test_command_line_completes_and_strict_exits_2(ray_local, segformer_checkpoint, tmp_path, capsys) -> None:
    """`cryoray predict-batch` (what jobs/infer.py runs): exit 0 with failures listed; a rerun
    skips the finished entry, and --strict turns the remaining failure into exit 2, one line."""
    from cryoray.cli.main import main

    manifest = write_manifest(
        tmp_path / "m.csv",
        [("EMD-21457", REAL / ENTRIES["EMD-21457"][0], ""), ("BROKEN-MAP", BAD_INPUTS / "truncated_data.mrc", "")],
    )
    settings = config(segformer_checkpoint).model_dump(mode="json", exclude={"models"})
    (tmp_path / "batch.yaml").write_text(json.dumps(settings))  # JSON is YAML
    argv = ["predict-batch", str(manifest), "-o", str(tmp_path / "out"), "--model", str(segformer_checkpoint)]
    argv += ["--config", str(tmp_path / "batch.yaml")]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["done"] == ["EMD-21457"] and [f["entry_id"] for f in report["failed"]] == ["BROKEN-MAP"]
    assert read_map(tmp_path / "out" / "EMD-21457" / "atom_CA.mrc").frame.same_as(
        read_map(REAL / ENTRIES["EMD-21457"][0]).frame
    )

    assert main([*argv, "--strict"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("failures.json: 1 entries failed"), err


def test_failure_not_the_inputs_fault_exits_1(ray_local, segformer_checkpoint, tmp_path, capsys) -> None:
    """A file where an entry's output folder goes: the entry fails for a reason that is not its
    input's, so the run (which still completes and lists it) exits 1, one line; --strict stays 2.
    Progress goes to stderr as plain lines (not a terminal here): entries finished of those to do."""
    from cryoray.cli.main import main

    manifest = write_manifest(
        tmp_path / "m.csv",
        [("EMD-21457", REAL / ENTRIES["EMD-21457"][0], ""), ("BROKEN-MAP", BAD_INPUTS / "truncated_data.mrc", "")],
    )
    out = tmp_path / "out"
    out.mkdir()
    (out / "EMD-21457").write_text("a file in the way of the entry's folder\n")
    settings = config(segformer_checkpoint).model_dump(mode="json", exclude={"models"})
    (tmp_path / "batch.yaml").write_text(json.dumps(settings))
    argv = ["predict-batch", str(manifest), "-o", str(out), "--model", str(segformer_checkpoint)]
    argv += ["--config", str(tmp_path / "batch.yaml")]
    assert main([*argv, "--json"]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    failures = {f["entry_id"]: f for f in report["failed"]}
    assert report["done"] == [] and report["n_failed_internal"] == 1
    assert failures["EMD-21457"]["error"] == "InternalError" and not failures["EMD-21457"]["input_fault"]
    assert "EMD-21457" in failures["EMD-21457"]["reason"]  # the path that could not be made a folder
    assert failures["BROKEN-MAP"]["error"] == "MapFormatError" and failures["BROKEN-MAP"]["input_fault"]
    assert json.loads((out / "failures.json").read_text()) == report["failed"]
    err = captured.err.strip().splitlines()
    assert err[-1].endswith("failures.json: 1 entries failed for reasons other than their input (input_fault: false)")
    assert any(line.startswith("predict-batch: 2/2 entries (100%)") and "failed 2" in line for line in err), err

    assert main([*argv, "--strict"]) == 2
