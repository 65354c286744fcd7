"""A real small sweep on the sample: MLflow parent/children, early stopping, the registered best model."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cryoray.config import load_config_with_sets, validate_config
from cryoray.errors import ConfigError
from cryoray.tune import SweepConfig, run_sweep
from cryoray.tune.space import check_space
from cryoray.tune.sweep import trial_base
from tests.support.training import small_sweep


@pytest.mark.timeout(1500)
def test_sweep_tracks_stops_and_registers(sample_store, tmp_path, ray_local, capsys) -> None:
    sweep = validate_config(SweepConfig, small_sweep(sample_store, tmp_path), source="s.yaml")
    result = run_sweep(sweep, source="s.yaml")
    assert len(result.trials) == 4
    progress = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tune: ")]
    assert progress and progress[-1].startswith("tune: 4/4 trials (100%), "), progress
    assert f"running 0, best val/output/macro_f1 {result.best_metric:.4g}" in progress[-1]
    families = {(t["model"]["name"], t["targets.output.loss"]["terms"][0]["kind"]) for t in result.trials}
    assert families == {("unetr", "weighted_ce"), ("unetr", "ce"), ("unet", "weighted_ce"), ("unet", "ce")}
    metric = [t["val/output/macro_f1"] for t in result.trials]
    assert metric == sorted(metric, reverse=True)  # the table is sorted by the metric
    statuses = [t["status"] for t in result.trials]
    assert "stopped early" in statuses, result.table  # ASHA cut at least one trial
    assert all(t["reports"] < 2 for t in result.trials if t["status"] == "stopped early")

    client = MlflowClient(result.tracking_uri)
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["cryoray.best_trial"] == result.best_trial
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(children) == 4
    for child in children:
        assert child.data.params["model.name"] in ("unetr", "unet")
        assert "val/output/macro_f1" in child.data.metrics
        assert child.info.status in ("FINISHED", "KILLED")
    stopped = [c for c in children if c.data.tags.get("cryoray.trial_status") == "stopped early"]
    assert stopped and all(c.info.status == "KILLED" for c in stopped)
    parent_files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"trials.txt", "sweep.png", "sweep.yaml"} <= parent_files

    version = client.get_model_version("sample-atoms-best", result.registered_version)
    best_child = next(c for c in children if c.info.run_name == result.best_trial)
    assert version.run_id == best_child.info.run_id
    model_files = {Path(a.path).name for a in client.list_artifacts(best_child.info.run_id, "model")}
    assert {"model.safetensors", "bundle.json", "config.yaml", "state.json"} <= model_files
    assert Path(result.sweep_dir, "trials.txt").read_text().startswith("trial")


@pytest.mark.parametrize(
    ("space", "needle"),
    [
        ({"model": {"choice": [{"name": "resnet"}]}}, "space.model"),
        ({"optimizer.lr": {"choice": []}}, "empty list of values"),
        ({"optimizer.lr": {"loguniform": [-1.0, 0.1]}}, "bounds must be > 0"),
        ({"optimizer.lr": {"uniform": [-0.1, 0.1]}}, "space.optimizer.lr = -0.1"),
        ({"model.img_size": {"grid": [32, 48]}}, "model.img_size is 48"),
    ],
    ids=["unknown-model", "empty-choice", "negative-loguniform", "negative-lr", "wrong-box"],
)
def test_bad_space_fails_before_any_trial(sample_store, tmp_path, space, needle) -> None:
    """Each value a dimension can take is checked up front (no Ray needed to refuse it)."""
    with pytest.raises(ConfigError) as err:
        sweep = validate_config(SweepConfig, small_sweep(sample_store, tmp_path, space=space), source="s.yaml")
        run_sweep(sweep, source="s.yaml")
    assert needle in str(err.value)
    assert not (tmp_path / "s").exists()  # nothing started


@pytest.mark.parametrize("name", [".", "..", "a/b", "-s"])
def test_sweep_names_are_one_safe_folder(tmp_path, name) -> None:
    with pytest.raises(ConfigError, match=r"s\.yaml: name: .*is not a run name"):
        validate_config(SweepConfig, small_sweep(tmp_path / "s.zarr", tmp_path, name=name), source="s.yaml")
    assert (
        validate_config(SweepConfig, small_sweep(tmp_path / "s.zarr", tmp_path, name="s.1"), source="s").name == "s.1"
    )


def test_sweep_output_is_local(tmp_path) -> None:
    sweep = {**small_sweep(tmp_path / "s.zarr", tmp_path), "output": "s3://b/sweeps"}
    with pytest.raises(ConfigError, match=r"s\.yaml: output: .*local \(or mounted\) folder, not s3://b/sweeps"):
        validate_config(SweepConfig, sweep, source="s.yaml")


def test_shipped_sample_sweep_is_valid(sample_store) -> None:
    path = Path(str(resources.files("cryoray.tune").joinpath("configs", "sample_sweep.yaml")))
    sweep = load_config_with_sets(SweepConfig, path, [f"train.data.store={sample_store}"])
    check_space(sweep, trial_base(sweep, "sqlite:///unused.db"), source=path)
    assert set(sweep.space) == {"model", "targets.output.loss", "optimizer.lr"}
