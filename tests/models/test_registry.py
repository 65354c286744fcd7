"""The model config (discriminated by name) and build_model: defaults, refusals, output contract."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from cryoray.config import Section, load_config, validate_config
from cryoray.errors import ConfigError
from cryoray.models import (
    MODEL_NAMES,
    ModelConfig,
    SegFormer3DConfig,
    UNetConfig,
    UNETRConfig,
    UNETRPPConfig,
    build_model,
)
from tests.support.models import TINY, box


class Holder(Section):
    model: ModelConfig


def test_names_match_the_config_union_and_the_tiny_table() -> None:
    union = typing.get_args(typing.get_args(ModelConfig)[0])
    assert {cls.model_fields["name"].default for cls in union} == set(MODEL_NAMES)
    assert (
        set(TINY)
        == set(MODEL_NAMES)
        == {"unetr", "unet", "unetrpp", "cryoten", "cryo2struct", "segformer3d", "cryores", "struc2mapgan", "cryosamu"}
    )


def test_a_bare_name_gives_the_published_network() -> None:
    def model(name: str) -> object:
        return validate_config(Holder, {"model": {"name": name}}, source="x.yaml").model

    unetr = model("unetr")
    assert isinstance(unetr, UNETRConfig)
    assert (unetr.img_size, unetr.hidden_size, unetr.mlp_dim, unetr.num_heads, unetr.out_channels) == (
        32,
        768,
        3072,
        12,
        4,
    )
    assert unetr.dropout_rate == 0.1
    unetrpp = model("unetrpp")
    assert isinstance(unetrpp, UNETRPPConfig)
    assert (unetrpp.img_size, unetrpp.feature_size, unetrpp.num_heads, unetrpp.out_channels) == (48, 16, 4, 1)
    assert (unetrpp.dims, unetrpp.depths, unetrpp.proj_sizes) == ((32, 64, 128, 256), (3, 3, 3, 3), (64, 64, 64, 32))
    segformer = model("segformer3d")
    assert isinstance(segformer, SegFormer3DConfig)
    assert (segformer.atom_classes, segformer.amino_classes, segformer.img_size) == (4, 21, 32)
    assert segformer.embed_dims == (32, 64, 160, 256) and segformer.num_heads == (4, 8, 16, 32)
    assert segformer.depths == (8, 8, 8, 8) and segformer.sr_ratios == (4, 2, 1, 1)
    assert segformer.patch_kernel_sizes == (7, 3, 3, 3) and segformer.patch_strides == (4, 2, 2, 2)
    assert segformer.seq_embedding_dim is None
    assert isinstance(model("unet"), UNetConfig)


@pytest.mark.parametrize("model", [{"name": "nope"}, {"name": "UNETR"}, {"hidden_size": 768}])
def test_unknown_or_missing_name_is_a_config_error_at_model_name(model: dict) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(Holder, {"model": model}, source="x.yaml")
    assert info.value.source == "x.yaml"
    assert info.value.reason.startswith("model.name: ")
    assert "unetr, unet, unetrpp, segformer3d" in info.value.reason


@pytest.mark.parametrize(
    ("model", "where", "named"),
    [
        ({"name": "unetr", "img_size": 40}, "model.unetr", "`img_size` (40)"),
        ({"name": "unetr", "hidden_size": 100}, "model.unetr", "`hidden_size` (100)"),
        ({"name": "unetr", "dropout_rate": 1.5}, "model.unetr", "`dropout_rate`"),
        ({"name": "unet", "strides": [2, 2]}, "model.unet", "`strides`"),
        ({"name": "unet", "img_size": 40}, "model.unet", "`img_size` (40)"),
        ({"name": "unetrpp", "img_size": 40}, "model.unetrpp", "`img_size` (40)"),
        ({"name": "unetrpp", "proj_sizes": [64, 64, 64]}, "model.unetrpp", "`proj_sizes` has 3"),
        ({"name": "unetrpp", "num_heads": 3}, "model.unetrpp", "`num_heads` (3)"),
        ({"name": "segformer3d", "depths": [8, 8, 8]}, "model.segformer3d", "`depths` has 3"),
        ({"name": "segformer3d", "num_heads": [4, 8, 16, 24]}, "model.segformer3d", "`num_heads` (24)"),
        ({"name": "segformer3d", "img_size": 48}, "model.segformer3d", "`img_size` (48)"),
        ({"name": "segformer3d", "seq_embedding_dim": 0}, "model.segformer3d", "`seq_embedding_dim`"),
        ({"name": "unet", "channel": [4, 8]}, "model.unet.channel", "Extra inputs"),
        ({"name": "unetr", "norm": ["batch"]}, "model.unetr.norm", ""),
    ],
)
def test_impossible_combinations_are_config_errors_naming_the_field(model: dict, where: str, named: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(Holder, {"model": model}, source="run.yaml")
    assert info.value.reason.startswith(where)
    assert named in info.value.reason


def test_yaml_lists_and_layer_pairs_load(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "model:\n  name: unet\n  channels: [4, 8, 16]\n  strides: [2, 2]\n  norm: [batch, {affine: false}]\n"
    )
    config = load_config(Holder, path).model
    assert isinstance(config, UNetConfig)
    assert config.channels == (4, 8, 16) and config.norm == ("batch", {"affine": False})
    outputs = build_model(config)(box(side=8))
    assert outputs["output"].shape == (2, 1, 8, 8, 8)


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_network_keeps_the_output_contract(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(TINY[name]).eval()
    with torch.no_grad():
        outputs = model(box())
    assert isinstance(outputs, dict)
    assert tuple(outputs) == model.heads
    assert set(model.out_channels_by_head) == set(model.heads)
    for head, output in outputs.items():
        assert output.dtype == torch.float32
        assert output.shape == (2, model.out_channels_by_head[head], 16, 16, 16)
        assert torch.isfinite(output).all()


@pytest.mark.parametrize("name", sorted(TINY))
def test_state_dict_round_trips_through_safetensors(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    trained = build_model(TINY[name])
    trained(box())  # one training-mode pass moves the batch-norm statistics off their defaults
    trained.eval()
    save_file(trained.state_dict(), tmp_path / "model.safetensors")
    torch.manual_seed(1)
    fresh = build_model(TINY[name]).eval()
    fresh.load_state_dict(load_file(tmp_path / "model.safetensors"))
    x = box(seed=3)
    with torch.no_grad():
        expected, got = trained(x), fresh(x)
    for head in trained.heads:
        torch.testing.assert_close(got[head], expected[head], rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(TINY))
def test_published_networks_build_on_the_meta_device(name: str) -> None:
    """Training plans check heads and sizes on a meta-device build (no memory); every default must allow it."""
    config = validate_config(Holder, {"model": {"name": name}}, source="x.yaml").model
    with torch.device("meta"):
        model = build_model(config)
    assert all(p.is_meta for p in model.parameters())
    assert tuple(model.out_channels_by_head) == model.heads


def test_build_model_refuses_a_plain_dict() -> None:
    with pytest.raises(TypeError, match="`config`"):
        build_model({"name": "unetr"})  # type: ignore[arg-type]
