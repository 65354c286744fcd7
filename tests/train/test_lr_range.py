"""Learning-rate range test: reading the curve, the rising schedule, and `cryoray lr-range` on the sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from cryoray.cli.main import main
from cryoray.config import validate_config
from cryoray.errors import ConfigError
from cryoray.train import TrainConfig
from cryoray.train.lr_range import analyse_range_test
from cryoray.train.optim import range_test_lr
from tests.support.training import small_config


def test_suggestion_is_the_steepest_fall_before_the_blowup() -> None:
    lrs = np.geomspace(1e-6, 10, 120)
    x = np.log10(lrs)
    # flat at 2, falls to 0.5 around 1e-3 (steepest there), climbs past 1e-1 and blows up
    losses = 0.5 + 1.5 / (1 + np.exp(3 * (x + 3))) + np.where(x > -1, 10 ** (2 * (x + 1)) - 1, 0)
    test = analyse_range_test(lrs, losses, beta=0.5)
    assert 3e-4 < test.suggested_lr < 3e-3
    assert 1e-2 < test.min_loss_lr <= 1e-1
    assert test.blowup_step is not None and lrs[test.blowup_step] > 1e-1
    assert test.to_dict()["steps"] == 120
    with pytest.raises(ValueError, match=">= 5 steps"):
        analyse_range_test(lrs[:4], losses[:4])


def test_a_loss_that_never_falls_gives_no_suggestion() -> None:
    """Batch noise around a flat loss, rising at the end (the shipped enhancer's 150-step curve)."""
    lrs = np.geomspace(1e-6, 1, 150)
    noise = np.random.default_rng(0).normal(0, 0.04, 150)
    losses = 0.34 + noise + np.where(lrs > 0.3, 0.15, 0.0)
    test = analyse_range_test(lrs, losses)
    assert test.suggested_lr is None and test.to_dict()["suggested_lr"] is None
    assert test.blowup_step is None
    falling = analyse_range_test(lrs, np.where(lrs < 1e-3, 0.34, 0.2) + noise / 4)
    assert falling.suggested_lr is not None and 1e-4 < falling.suggested_lr < 1e-2


def test_range_test_schedule_needs_a_rising_range(tmp_path) -> None:
    config = small_config(tmp_path / "s.zarr", tmp_path, schedule__scheduler="range_test", schedule__min_lr=1e-2)
    with pytest.raises(ConfigError, match="0 < min_lr < lr"):
        validate_config(TrainConfig, config, source="t.yaml")
    assert range_test_lr(1, 11, 1e-5, 1e-1) == pytest.approx(1e-5)
    assert range_test_lr(6, 11, 1e-5, 1e-1) == pytest.approx(1e-3)
    assert range_test_lr(11, 11, 1e-5, 1e-1) == pytest.approx(1e-1)


def test_cli_lr_range_on_the_sample(sample_store, tmp_path, ray_local, capsys) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(small_config(sample_store, tmp_path / "runs")))
    args = ["lr-range", str(path), "--steps", "10", "--min-lr", "1e-5", "--max-lr", "1e-1", "--json"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert 1e-5 <= summary["min_loss_lr"] <= 1e-1
    if summary["suggested_lr"] is None:  # 10 steps of a tiny model may not move the loss: then it says so
        assert "never fell by 20%" in err
    else:
        assert 1e-5 <= summary["suggested_lr"] <= 1e-1
    run_dir = Path(summary["run_dir"])
    assert run_dir.name == "t-lr-range"
    assert json.loads((run_dir / "lr_range.json").read_text()) == summary
    assert (run_dir / "lr_range.png").read_bytes()[:4] == b"\x89PNG"
    client = MlflowClient(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    assert {"lr_range.json", "lr_range.png"} <= {a.path for a in client.list_artifacts(summary["mlflow_run_id"])}
    # one per step (validations log it again at epoch ends): 10 steps, however the epochs cut them
    logged = dict(sorted((m.step, m.value) for m in client.get_metric_history(summary["mlflow_run_id"], "lr")))
    assert list(logged) == list(range(1, 11))
    for step, lr in logged.items():  # the rate set after step k is the one step k + 1 uses
        assert lr == pytest.approx(range_test_lr(min(step + 1, 10), 10, 1e-5, 1e-1), rel=1e-6)
    assert main([*args[:-1], "--min-lr", "1"]) == 2  # above --max-lr
    assert "--min-lr" in capsys.readouterr().err
