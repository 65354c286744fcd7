"""Training with ``output: s3://...``: the run folder (config, run record, curves, checkpoints) lives in the bucket."""

from __future__ import annotations

import json

import boto3
import pytest
import s3fs
import yaml
from mlflow.tracking import MlflowClient

from cryoray.config import validate_config
from cryoray.errors import ConfigError
from cryoray.train import TrainConfig, run_training
from tests.support.training import small_config


def test_run_folder_on_s3_and_nothing_local(sample_store, tmp_path, ray_local, s3_endpoint, monkeypatch) -> None:
    boto3.client("s3").create_bucket(Bucket="train-out")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # a relative local folder named "s3:" would appear here
    raw = small_config(
        sample_store,
        "s3://train-out/runs",
        schedule={"epochs": 1, "max_steps_per_epoch": 2},
        tracking={"uri": f"sqlite:///{tmp_path}/mlflow.db"},
    )
    config = validate_config(TrainConfig, raw, source="t.yaml")
    result = run_training(config, source="t.yaml")

    assert result.run_dir == "s3://train-out/runs/t"
    assert result.metrics["step"] == 2
    fs = s3fs.S3FileSystem()
    fs.invalidate_cache()
    run = "train-out/runs/t"
    assert yaml.safe_load(fs.cat_file(f"{run}/config.yaml"))["output"] == "s3://train-out/runs"
    record = json.loads(fs.cat_file(f"{run}/cryoray_run.json"))
    assert record == {"mlflow_run_id": result.mlflow_run_id, "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db"}
    assert fs.exists(f"{run}/curves.png")
    assert fs.glob(f"{run}/checkpoint_*/model.safetensors")
    assert list(cwd.iterdir()) == []  # no local "s3:" folder, no stray curves.png

    client = MlflowClient(result.tracking_uri)
    assert client.get_run(result.mlflow_run_id).info.status == "FINISHED"
    names = {a.path for a in client.list_artifacts(result.mlflow_run_id)}
    assert {"config.yaml", "curves.png"} <= names
    assert client.get_run(result.mlflow_run_id).info.artifact_uri.startswith("s3://train-out/runs/mlartifacts")

    with pytest.raises(ConfigError, match="name: run s3://train-out/runs/t exists; pass --resume"):
        run_training(config, source="t.yaml")
    other = validate_config(TrainConfig, {**raw, "name": "u"}, source="t.yaml")
    with pytest.raises(ConfigError, match="--resume: no run at s3://train-out/runs/u"):
        run_training(other, source="t.yaml", resume=True)
