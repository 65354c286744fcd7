"""struc2mapGAN training on local Ray: two networks and optimisers, both in the checkpoint, MLflow curves, resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient
from safetensors.torch import load_file

from cryoray.bundle import read_bundle
from cryoray.config import validate_config
from cryoray.errors import ConfigError
from cryoray.models import build_model
from cryoray.train import TrainConfig, plan_training, run_training
from cryoray.train.gan import DISCRIMINATOR_STATE
from tests.support.models import tiny_model
from tests.support.training import small_config

SMOOTH_L1 = {"terms": [{"kind": "smooth_l1"}]}


def gan_config(store: Path, output: Path, **changes: object) -> dict:
    """A tiny struc2mapGAN on the sample store (32³ c2s boxes): 3 steps per epoch."""
    return small_config(
        store,
        output,
        model=tiny_model("struc2mapgan", img_size=32),
        targets={"output": {"label": "simulated", "loss": SMOOTH_L1}},
        gan={"adversarial_weight": 0.01},
        schedule={"epochs": 1, "max_steps_per_epoch": 3},
        checkpoints={"metric": "val/output/pcc", "mode": "max"},
        **changes,
    )


def _train(config: dict, resume: bool = False):
    return run_training(validate_config(TrainConfig, config, source="t.yaml"), source="t.yaml", resume=resume)


def test_gan_trains_both_networks_checkpoints_both_and_resumes(sample_store, tmp_path, ray_local) -> None:
    config = gan_config(sample_store, tmp_path / "runs")
    result = _train(config)
    assert (result.metrics["step"], result.metrics["epoch"]) == (3, 1)
    ckpt = Path(result.checkpoint)
    weights = load_file(ckpt / "model.safetensors")
    build_model(validate_config(TrainConfig, config, source="t").model).load_state_dict(weights)  # strict
    moved = {k.split(".")[0] for k, v in build_model_initial(config).items() if not torch.equal(v, weights[k])}
    assert moved == {"generator", "discriminator"}  # both were trained
    generator_state = torch.load(ckpt / "training_state.pt", weights_only=True)
    discriminator_state = torch.load(ckpt / DISCRIMINATOR_STATE, weights_only=True)
    assert generator_state["step"] == 3 and discriminator_state["optimizer"]["state"]  # both optimisers stepped
    bundle = read_bundle(ckpt)
    assert bundle.network["name"] == "struc2mapgan" and not bundle.preprocessing.normalize  # input: simulated map
    assert bundle.preprocessing.tiling.box == 32

    client = MlflowClient(result.tracking_uri)
    data = client.get_run(result.mlflow_run_id).data.metrics
    for key in (
        "train/loss",
        "train/output/smooth_l1",
        "train/output/adversarial",
        "train/discriminator/loss",
        "val/loss",
        "val/discriminator/loss",
        "val/output/pcc",
        "val/output/pcc_input",
    ):
        assert key in data, key
    assert [m.step for m in client.get_metric_history(result.mlflow_run_id, "train/discriminator/loss")] == [1, 2, 3]
    artifacts = [a.path for a in client.list_artifacts(result.mlflow_run_id, "samples")]
    assert artifacts == ["samples/sample_step0000003.png"]
    assert (Path(result.run_dir) / "curves.png").is_file()

    # a second epoch resumes from step 3, with both optimisers' states
    config["schedule"]["epochs"] = 2
    resumed = _train(config, resume=True)
    assert (resumed.metrics["step"], resumed.mlflow_run_id) == (6, result.mlflow_run_id)
    restored = client.get_metric_history(result.mlflow_run_id, "restored_from_step")
    assert [m.value for m in restored] == [3.0]
    assert json.loads((Path(resumed.checkpoint) / "state.json").read_text())["step"] == 6


def test_gan_on_two_data_parallel_workers(sample_store, tmp_path, ray_local) -> None:
    """Both networks under DDP (gloo on CPU): generator and discriminator steps on every rank."""
    config = gan_config(sample_store, tmp_path / "runs", workers={"num_workers": 2, "cpus_per_worker": 0.5})
    config["schedule"]["max_steps_per_epoch"] = 2
    result = _train(config)
    assert result.metrics["step"] == 2
    assert all(math.isfinite(result.metrics[k]) for k in ("val/loss", "val/discriminator/loss", "val/output/pcc"))
    weights = load_file(Path(result.checkpoint) / "model.safetensors")
    assert not any(k.startswith("module.") or ".module." in k for k in weights)  # saved without the DDP wrappers


def build_model_initial(config: dict) -> dict[str, torch.Tensor]:
    """The weights a run of ``config`` starts from (its seed, 0)."""
    torch.manual_seed(0)
    return build_model(validate_config(TrainConfig, config, source="t").model).state_dict()


def test_gan_settings_are_checked(sample_store, tmp_path) -> None:
    config = gan_config(sample_store, tmp_path / "runs")
    with pytest.raises(ConfigError, match="gan: settings for adversarial models"):
        validate_config(TrainConfig, {**small_config(sample_store, tmp_path), "gan": {}}, source="t.yaml")
    wrong = {**config, "targets": {"output": {"label": "denoise_regression", "loss": SMOOTH_L1}}}
    with pytest.raises(ConfigError, match="one head, output, with label simulated"):
        validate_config(TrainConfig, wrong, source="t.yaml")
    with pytest.raises(ConfigError, match=r"gan\.adversarial_weight"):
        validate_config(TrainConfig, {**config, "gan": {"adversarial_weight": -1}}, source="t.yaml")
    # without a gan section the published settings apply
    plain = validate_config(TrainConfig, {k: v for k, v in config.items() if k != "gan"}, source="t.yaml")
    assert plain.gan_settings().adversarial_weight == 1e-3
    planned = validate_config(TrainConfig, {**config, "gan": {"target_mask": "molecule_mask"}}, source="t.yaml")
    with pytest.raises(ConfigError, match=r"gan\.target_mask: the store .* has no 'molecule_mask' labels"):
        plan_training(planned, source="t.yaml")


@pytest.mark.timeout(900)
def test_sweep_over_the_loss_weights_runs_gan_trials(sample_store, tmp_path, ray_local) -> None:
    """`cryoray tune` drives GAN runs unchanged: a grid over α and the SmoothL1 weight, each trial a GAN run."""
    from cryoray.tune import SweepConfig, run_sweep

    base = gan_config(sample_store, tmp_path / "unused", workers={"cpus_per_worker": 0.5})
    base["schedule"] = {"epochs": 1, "max_steps_per_epoch": 2}
    base.pop("output")
    space = {
        "gan.adversarial_weight": {"grid": [0.0, 0.1]},
        "targets.output.loss": {"grid": [SMOOTH_L1]},
    }
    sweep = {
        "name": "gan-sweep",
        "output": str(tmp_path / "sweeps"),
        "train": base,
        "space": space,
        "search": {"metric": "val/output/pcc", "mode": "max"},
        "scheduler": {"kind": "none"},
    }
    result = run_sweep(validate_config(SweepConfig, sweep, source="s.yaml"), source="s.yaml", progress=False)
    assert sorted(t["gan.adversarial_weight"] for t in result.trials) == [0.0, 0.1]
    assert all(t["status"] == "finished" for t in result.trials), result.table
    assert (Path(result.best_checkpoint) / DISCRIMINATOR_STATE).is_file()  # the best trial's GAN checkpoint
