"""A config that cannot work fails before any worker starts, with one message naming the key."""

from __future__ import annotations

import pytest
import yaml

from cryoray.cli.main import main
from cryoray.config import load_config_with_sets, validate_config
from cryoray.errors import ConfigError, SourceError
from cryoray.pipelines.ingest_config import IngestConfig
from cryoray.store import StoreWriter
from cryoray.train import TrainConfig, plan_training
from tests.support.training import small_config


def _config(sample_store, tmp_path, **changes) -> TrainConfig:
    return validate_config(TrainConfig, small_config(sample_store, tmp_path / "runs", **changes), source="t.yaml")


def test_a_good_config_plans(sample_store, tmp_path) -> None:
    plan = plan_training(_config(sample_store, tmp_path), source="t.yaml")
    n = sum(b.size for b in plan.train_blocks) + sum(b.size for b in plan.val_blocks)
    assert n == 39  # the sample's sub-grids, split between train and val
    counts = plan.class_counts["output"]
    assert len(counts) == 4 and counts[1] > 0
    assert plan.steps_per_epoch == 4  # capped by max_steps_per_epoch


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"model": {"name": "resnet"}}, "model"),
        ({"targets__output__label": "colour"}, "unknown label 'colour'"),
        (
            {"targets__output__loss": {"terms": [{"kind": "masked_mse"}]}},
            "regression loss for the classification label",
        ),
        ({"model__img_size": 48}, "model.img_size is 48 but the data gives 32"),
        ({"data__augment__crop": 40}, "larger than the store's boxes"),
        ({"targets": {"atoms": {"label": "atom", "loss": {"terms": [{"kind": "ce"}]}}}}, "heads ['output']"),
        ({"model__out_channels": 21}, "21 output channels, 'atom' needs 4"),
        ({"batch_size": 64}, "fewer than one step"),
        ({"schedule__epochs": 0}, "schedule.epochs"),
    ],
)
def test_bad_configs_fail_before_workers(sample_store, tmp_path, changes, needle) -> None:
    with pytest.raises(ConfigError) as err:
        plan_training(_config(sample_store, tmp_path, **changes), source="t.yaml")
    assert needle in str(err.value)
    assert "t.yaml" in str(err.value)


def test_missing_store_and_store_without_the_labels(sample_store, tmp_path) -> None:
    with pytest.raises(SourceError, match="no store here"):
        plan_training(_config(sample_store, tmp_path, data__store=str(tmp_path / "nowhere.zarr")), source="t.yaml")
    only_atoms = tmp_path / "atoms.zarr"
    StoreWriter(str(only_atoms), IngestConfig(labels=["atom"]).layout())
    config = _config(sample_store, tmp_path, data__store=str(only_atoms), targets__output__label="secondary_structure")
    with pytest.raises(ConfigError, match="has no 'secondary_structure' labels"):
        plan_training(config, source="t.yaml")


def test_set_overrides_and_cli_exit_code(sample_store, tmp_path, capsys) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(small_config(sample_store, tmp_path / "runs")))
    config = load_config_with_sets(TrainConfig, path, ["schedule.epochs=5", "optimizer.name=nadam"])
    assert config.schedule.epochs == 5 and config.optimizer.name == "nadam"
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config_with_sets(TrainConfig, path, ["epochs"])
    assert main(["train", str(path), "--set", "model.img_size=64"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "model.img_size is 64" in err[0]


@pytest.mark.parametrize("name", [".", "..", "a/b", "/abs", "-x", ".hidden", "", "a b"])
def test_run_names_are_one_safe_folder(tmp_path, name) -> None:
    """'.' or '..' would put the run folder at or above `output` (and resume someone else's run)."""
    with pytest.raises(ConfigError, match=r"t\.yaml: name: .*is not a run name"):
        validate_config(TrainConfig, small_config(tmp_path / "s.zarr", tmp_path / "runs", name=name), source="t.yaml")


@pytest.mark.parametrize("name", ["t", "run-1", "c2s_atoms.v2", "0"])
def test_good_run_names(tmp_path, name) -> None:
    config = validate_config(TrainConfig, small_config(tmp_path / "s.zarr", tmp_path / "runs", name=name), source="t")
    assert config.name == name


def test_remote_output_needs_a_tracking_uri(tmp_path) -> None:
    """The default tracking database is OUTPUT/mlflow.db, which cannot be an s3:// object."""
    remote = small_config(tmp_path / "s.zarr", "s3://bucket/runs")
    with pytest.raises(ConfigError, match=r"t\.yaml: tracking: .*tracking\.uri must be set when output is remote"):
        validate_config(TrainConfig, remote, source="t.yaml")
    remote["tracking"] = {"uri": f"sqlite:///{tmp_path}/mlflow.db"}
    assert validate_config(TrainConfig, remote, source="t.yaml").output == "s3://bucket/runs"
    local = small_config(tmp_path / "s.zarr", f"file://{tmp_path}/runs")
    assert validate_config(TrainConfig, local, source="t.yaml").tracking.uri is None  # file:// is local
