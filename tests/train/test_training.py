"""Real training runs on local Ray: checkpoints without pickle, MLflow records, resume, DDP, failures."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient
from safetensors.torch import load_file

from cryoray.bundle import read_bundle
from cryoray.config import validate_config
from cryoray.errors import ConfigError
from cryoray.models import build_model
from cryoray.store import SubgridStore
from cryoray.train import TrainConfig, run_training
from cryoray.train.run import check_cluster
from tests.support.models import tiny_model
from tests.support.servers import cluster_processes
from tests.support.training import small_config


def _train(config: dict, resume: bool = False):
    return run_training(validate_config(TrainConfig, config, source="t.yaml"), source="t.yaml", resume=resume)


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> list[str]:
    found = []
    for item in client.list_artifacts(run_id, path):
        found += _artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return found


def test_train_track_checkpoint_and_resume(sample_store, tmp_path, ray_local) -> None:
    config = small_config(sample_store, tmp_path / "runs")
    result = _train(config)
    assert result.metrics["step"] == 8 and result.metrics["epoch"] == 2
    ckpt = Path(result.checkpoint)
    # Weights are safetensors and load into a freshly built model; the rest loads without pickle.
    model = build_model(validate_config(TrainConfig, config, source="t").model)
    model.load_state_dict(load_file(ckpt / "model.safetensors"))
    state = torch.load(ckpt / "training_state.pt", weights_only=True)
    assert state["step"] == 8
    assert json.loads((ckpt / "state.json").read_text())["metrics"]["val/loss"] == pytest.approx(
        result.metrics["val/loss"]
    )
    # ... and it is a model bundle: the store's preparation and tiling, the run that made it
    bundle = read_bundle(ckpt)
    settings = SubgridStore.open(sample_store).settings
    assert bundle.preprocessing.percentile == settings["prepare"]["percentile"]
    assert bundle.preprocessing.tiling.to_dict() == settings["tiling"]  # c2s: the network's 32³ boxes
    assert bundle.heads[0].label == "atom" and bundle.heads[0].activation == "softmax"
    made_by = bundle.provenance["training"]
    assert (made_by["run"], made_by["step"], made_by["mlflow_run_id"]) == ("t", 8, result.mlflow_run_id)
    assert made_by["store"]["url"] == str(sample_store) and made_by["store"]["prepare"] == settings["prepare"]

    client = MlflowClient(result.tracking_uri)
    run = client.get_run(result.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.name"] == "unetr" and run.data.params["optimizer.lr"] == "0.001"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")] == list(range(1, 9))
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val/loss")] == [0, 4, 8]  # 0: untrained
    assert 0.0 <= run.data.metrics["val/output/f1/CA"] <= 1.0
    files = _artifacts(client, run.info.run_id)
    assert "config.yaml" in files and "curves.png" in files
    assert sum(f.startswith("samples/") and f.endswith(".png") for f in files) == 2

    with pytest.raises(ConfigError, match="exists; pass --resume"):
        _train(config)
    config["schedule"]["epochs"] = 3
    resumed = _train(config, resume=True)
    assert resumed.mlflow_run_id == result.mlflow_run_id
    assert resumed.metrics["step"] == 12 and resumed.metrics["epoch"] == 3
    assert [m.value for m in client.get_metric_history(run.info.run_id, "restored_from_step")] == [8]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val/loss")] == [0, 4, 8, 12]


def test_two_workers_regression(sample_store, tmp_path, ray_local) -> None:
    config = small_config(
        sample_store,
        tmp_path / "runs",
        model=tiny_model("unetrpp", img_size=32, feature_size=8),
        targets={
            "output": {
                "label": "simulated",
                "loss": {"terms": [{"kind": "masked_mse"}, {"kind": "ssim", "weight": 0.1}]},
            }
        },
        workers={"num_workers": 2, "cpus_per_worker": 0.5},
        schedule={"epochs": 1, "max_steps_per_epoch": 2},
        batch_size=2,
    )
    result = _train(config)
    assert result.metrics["step"] == 2
    for key in ("val/output/pcc", "val/output/pcc_input"):
        assert -1.0 <= result.metrics[key] <= 1.0
    history = MlflowClient(result.tracking_uri).get_run(result.mlflow_run_id).data.metrics
    assert "train/output/masked_mse" in history and "train/output/ssim" in history


def test_cluster_too_small_is_refused(sample_store, tmp_path, ray_local) -> None:
    config = validate_config(
        TrainConfig, small_config(sample_store, tmp_path, workers={"num_workers": 2}), source="t.yaml"
    )
    with pytest.raises(ConfigError, match="starve the reads"):
        check_cluster(config, "t.yaml")


def test_killed_worker_restores_from_checkpoint(sample_store, tmp_path, ray_local) -> None:
    config = small_config(
        sample_store, tmp_path / "runs", schedule={"epochs": 3, "max_steps_per_epoch": 4, "val_every_steps": 2}
    )
    run_dir = tmp_path / "runs" / "t"
    killed: list[int] = []

    def registered() -> int:
        """Checkpoints the Train controller has registered (its snapshot), not merely written:
        a folder appears before registration, and a worker killed in between restarts from scratch."""
        try:
            snapshot = json.loads((run_dir / "checkpoint_manager_snapshot.json").read_text())
        except (OSError, ValueError):  # not written yet, or caught mid-write
            return 0
        return len(snapshot.get("checkpoint_results", []))

    def kill_after_first_checkpoint() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            if registered() >= 1:
                for pid in cluster_processes(ray_local, "RayTrainWorker"):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.2)

    killer = threading.Thread(target=kill_after_first_checkpoint, daemon=True)
    killer.start()
    result = _train(config)
    killer.join(timeout=5)
    assert killed, "no training worker was found to kill"
    assert result.metrics["step"] == 12 and result.metrics["epoch"] == 3
    restored = MlflowClient(result.tracking_uri).get_metric_history(result.mlflow_run_id, "restored_from_step")
    assert restored and all(m.value >= 2 for m in restored)
