"""The serve config and the `cryoray serve` command's checks before anything starts (no Ray)."""

from __future__ import annotations

import pytest

from cryoray.cli.main import main
from cryoray.errors import ConfigError
from cryoray.serve import LimitsConfig, ServeConfig
from cryoray.serve.app import config_from_args
from cryoray.serve.config import REPLICA_BASE_MB

MIB = 1 << 20


def test_defaults_bind_to_loopback(tmp_path) -> None:
    config = ServeConfig.model_validate({"models": {"m": str(tmp_path)}})
    assert config.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"models": {}}, "at least one model"),
        ({"models": {"../x": "ckpt"}}, "model names"),
        ({"models": {"m": "ckpt"}, "limits": {"max_request_bytes": 0}}, "limits.max_request_bytes"),
        ({"models": {"m": "ckpt"}, "batching": {"max_batch_size": 2, "boxes_per_call": 4}}, "boxes_per_call"),
        ({"models": {"m": "ckpt"}, "unknown": 1}, "unknown"),
        ({"models": {"m": "ckpt"}, "limits": {"memory_budget_mb": 1100}}, "leaves no room"),
    ],
    ids=["no-models", "bad-name", "zero-limit", "call-above-batch", "unknown-key", "budget-too-small"],
)
def test_bad_settings_name_the_key(settings, needle) -> None:
    with pytest.raises(ConfigError, match=needle):
        config_from_args(settings)


def test_builder_args_take_a_file_and_sets(tmp_path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("models: {m: ckpt}\nport: 9000\n")
    config = config_from_args({"config": str(path), "set": ["port=9100", "limits.max_chains=3"]})
    assert (config.port, config.limits.max_chains) == (9100, 3)


def test_cli_refuses_a_missing_checkpoint_before_starting_ray(tmp_path, capsys) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text(f"models: {{c2s2: {tmp_path / 'nowhere'}}}\n")
    assert main(["serve", str(path)]) == 2
    err = capsys.readouterr().err
    assert "models.c2s2" in err and "registered model" in err


@pytest.mark.parametrize(
    "settings", [{}, {"memory_budget_mb": 4096, "max_requests_in_flight": 2}], ids=["default", "set"]
)
def test_requests_in_flight_fit_the_memory_budget(settings) -> None:
    limits = LimitsConfig.model_validate(settings)
    for channels in (1, 4, 25, 100):
        voxels = limits.voxel_limit(channels)
        worst = limits.request_bytes(voxels, channels, limits.max_request_bytes)
        assert REPLICA_BASE_MB * MIB + limits.max_requests_in_flight * worst <= limits.memory_budget_mb * MIB
        assert limits.for_channels(channels).max_map_voxels == voxels
    # one output map gets the configured voxel limit; many maps a lower one (each costs memory per voxel)
    assert limits.voxel_limit(1) == limits.max_map_voxels
    assert limits.voxel_limit(100) < limits.voxel_limit(25) < limits.voxel_limit(4)


def test_an_ingress_takes_more_requests_than_map_requests() -> None:
    config = ServeConfig.model_validate({"models": {"m": "ckpt"}})
    # the places above the map requests answer /health and the quick 503s
    assert config.deployments.max_ongoing_requests > config.limits.max_requests_in_flight
