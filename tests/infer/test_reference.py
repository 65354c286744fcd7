"""Model references: checkpoint directories and MLflow registered models (real sqlite registry)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cryoray.infer import ModelReferenceError, Predictor, parse_reference, resolve_reference


def test_parse_reference() -> None:
    assert parse_reference("models:/cryoten/3").name == "cryoten"
    assert parse_reference("models:/cryoten/3").version == "3"
    assert parse_reference("cryoten").version is None
    assert parse_reference("cryoten/latest").version is None
    assert parse_reference("a/b/c") is None and parse_reference("/abs/path") is None


def test_checkpoint_directory(segformer_checkpoint, tmp_path) -> None:
    assert resolve_reference(segformer_checkpoint) == segformer_checkpoint
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelReferenceError, match="not a checkpoint directory"):
        resolve_reference(tmp_path / "empty")
    with pytest.raises(ModelReferenceError, match="a file"):
        resolve_reference(segformer_checkpoint / "config.yaml")
    with pytest.raises(ModelReferenceError, match="MLFLOW_TRACKING_URI"):
        resolve_reference("no-such-model", tracking_uri=None)
    broken = tmp_path / "broken"
    shutil.copytree(segformer_checkpoint, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelReferenceError, match="checksum does not match"):
        Predictor.from_reference(broken, device="cpu")
    (broken / "bundle.json").unlink()  # an older checkpoint directory: no checksum to catch it first
    with pytest.raises(ModelReferenceError, match="weights do not load"):
        Predictor.from_reference(broken, device="cpu")


@pytest.fixture
def registry(tmp_path, enhance_checkpoint, monkeypatch) -> str:
    """A real MLflow registry (sqlite) with two versions of `enhancer`, logged as `cryoray tune` does."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("infer-test", artifact_location=str(tmp_path / "artifacts"))
    client.create_registered_model("enhancer")
    for _ in range(2):
        run = client.create_run(experiment)
        client.log_artifacts(run.info.run_id, str(enhance_checkpoint), "model")
        client.create_model_version("enhancer", f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    return uri


def test_registered_model(registry, tmp_path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    latest = resolve_reference("enhancer", tracking_uri=registry, cache_dir=cache)
    assert latest == cache / "enhancer" / "2" and (latest / "model.safetensors").is_file()
    assert resolve_reference("models:/enhancer/1", tracking_uri=registry, cache_dir=cache) == cache / "enhancer" / "1"
    # downloaded once: a second resolution uses the cache
    stamp = (latest / "model.safetensors").stat().st_mtime_ns
    assert resolve_reference("enhancer/2", tracking_uri=registry, cache_dir=cache) == latest
    assert (latest / "model.safetensors").stat().st_mtime_ns == stamp
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry)
    predictor = Predictor.from_reference("models:/enhancer/1", cache_dir=cache, device="cpu")
    assert predictor.name == "models:/enhancer/1" and predictor.spec.regression_only
    for ref, reason in (("enhancer/9", "not found"), ("nobody", "no versions|not found")):
        with pytest.raises(ModelReferenceError, match=reason):
            resolve_reference(ref, tracking_uri=registry, cache_dir=cache)
    assert not any(Path(cache).glob("*/.download-*"))
