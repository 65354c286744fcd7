"""Cryo2Struct's Transformer U-Net: the reference checkpoints' outputs, the published layout, config, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cryoray.models import Cryo2StructConfig, build_model
from cryoray.models.cryo2struct import Cryo2StructModel, cryo2struct_kwargs_from_checkpoint
from tests.support.models import box, model_config, parameter_count, parameters_without_gradient

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "published_networks"

#: The published atom (4 classes) and amino-acid (21 classes) models: the dissertation's parameter counts.
PUBLISHED = {"atom": (4, 92_281_604), "amino": (21, 92_281_893)}

#: A small Cryo2Struct on 16³ boxes (one token), fast on 2 CPU cores.
TINY_KWARGS = {"img_size": 16, "embed_dim": 16, "num_heads": 2, "mlp_dim": 32, "base_filters": 2}


def _reference(name: str) -> Path:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference file {path} is missing (shared/reference/published_networks is not checked out)")
    return path


def _checkpoint(kind: str) -> dict:
    return torch.load(_reference(f"cryo2struct_{kind}_shared.ckpt"), weights_only=True, map_location="cpu")


@pytest.mark.parametrize("kind", sorted(PUBLISHED))
def test_shared_checkpoint_reproduces_the_reference_output(kind: str) -> None:
    """Cryo2Struct's own code on the reference input, eval mode: same output to float32 rounding."""
    checkpoint = _checkpoint(kind)
    io = np.load(_reference(f"cryo2struct_{kind}_shared_io.npz"))
    kwargs = cryo2struct_kwargs_from_checkpoint(checkpoint["hyper_parameters"], checkpoint["state_dict"])
    assert kwargs["out_channels"] == PUBLISHED[kind][0] and kwargs["embed_dim"] == 96
    model = Cryo2StructModel(**kwargs)
    state = {name.removeprefix("model."): tensor for name, tensor in checkpoint["state_dict"].items()}
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        output = model(torch.from_numpy(io["input"]))["output"]
    expected = torch.from_numpy(io["output"])
    assert output.shape == expected.shape
    assert (output - expected).abs().max().item() <= 1e-5


def test_settings_absent_from_the_hyper_parameters_come_from_the_shapes() -> None:
    checkpoint = _checkpoint("atom")
    state = {name.removeprefix("model."): tensor for name, tensor in checkpoint["state_dict"].items()}
    full = cryo2struct_kwargs_from_checkpoint(checkpoint["hyper_parameters"], checkpoint["state_dict"])
    assert cryo2struct_kwargs_from_checkpoint({"num_heads": 4, "ext_layers": [3, 6, 9, 12]}, state) == full


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hyper_parameters": None}, "`num_heads`"),
        ({"hyper_parameters": {"num_heads": 4}}, "`ext_layers`"),
        ({"norm": "group"}, "unknown Cryo2Struct `norm`"),
        ({"embed_dim": 64}, "tensor shapes give `embed_dim` = 96"),
        ({"img_shape": (32, 32, 16)}, "`img_shape`"),
        ({"drop": "z3_blue_conv.blocks.2.block.weight"}, "missing"),
        ({"add": "extra.weight"}, "unexpected"),
        ({"drop": "init_conv.conv_block.0.weight"}, "`init_conv.conv_block.0.weight`"),
    ],
)
def test_checkpoint_settings_that_do_not_fit_are_refused(change: dict, message: str) -> None:
    checkpoint = _checkpoint("atom")
    hyper_parameters = change.get("hyper_parameters", dict(checkpoint["hyper_parameters"]))
    state = dict(checkpoint["state_dict"])
    state.pop(f"model.{change.get('drop')}", None)
    if "add" in change:
        state[f"model.{change['add']}"] = torch.zeros(1)
    for key in ("norm", "embed_dim", "img_shape"):
        if key in change:
            hyper_parameters[key] = change[key]
    with pytest.raises(ValueError, match=message):
        cryo2struct_kwargs_from_checkpoint(hyper_parameters, state)


@pytest.mark.parametrize("kind", sorted(PUBLISHED))
def test_published_configuration_has_the_published_names_shapes_and_size(kind: str) -> None:
    classes, count = PUBLISHED[kind]
    published = json.loads(_reference(f"cryo2struct_{kind}_full_state_dict_shapes.json").read_text())
    assert published["n_parameters"] == count
    with torch.device("meta"):
        model = Cryo2StructModel(out_channels=classes)
    assert sum(p.numel() for p in model.parameters()) == count
    shapes = {name: list(tensor.shape) for name, tensor in model.state_dict().items()}
    assert shapes == {name.removeprefix("model."): shape for name, shape in published["state_dict_shapes"].items()}
    assert list(shapes) == [name.removeprefix("model.") for name in published["state_dict_shapes"]]


def test_config_defaults_are_the_published_network() -> None:
    config = model_config({"name": "cryo2struct"})
    assert isinstance(config, Cryo2StructConfig)
    assert config.network_kwargs() == {
        "in_channels": 1,
        "out_channels": 4,
        "img_size": 32,
        "patch_size": 16,
        "embed_dim": 768,
        "num_heads": 12,
        "num_layers": 12,
        "ext_layers": (3, 6, 9, 12),
        "base_filters": 16,
        "mlp_dim": 3072,
        "dropout_rate": 0.0,
        "norm": "instance",
    }
    with torch.device("meta"):
        model = build_model(config)
    assert isinstance(model, Cryo2StructModel)
    assert model.heads == ("output",) and model.out_channels_by_head == {"output": 4}
    assert (model.in_channels, model.img_size) == (1, 32)
    assert (
        parameter_count(lambda: build_model(model_config({"name": "cryo2struct", "out_channels": 21})))
        == (PUBLISHED["amino"][1])
    )


@pytest.mark.parametrize("side", [16, 32])
def test_tiny_network_shape_and_gradients(side: int) -> None:
    """Any multiple of 16; every parameter gets a gradient (DDP), dropout on."""
    torch.manual_seed(0)
    model = Cryo2StructModel(**{**TINY_KWARGS, "img_size": side, "dropout_rate": 0.1})
    outputs = model(box(side=side))
    assert outputs["output"].shape == (2, 4, side, side, side)
    assert parameters_without_gradient(model, outputs) == []


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"patch_size": 8}, "`patch_size`"),
        ({"img_size": 24}, "`img_size`"),
        ({"embed_dim": 15}, "`embed_dim`"),
        ({"num_heads": 0}, "`num_heads`"),
        ({"ext_layers": (3, 6, 12)}, "`ext_layers`"),
        ({"ext_layers": (3, 9, 6, 12)}, "`ext_layers`"),
        ({"ext_layers": (2, 4, 6, 8)}, "`num_layers`"),
        ({"dropout_rate": 1.0}, "`dropout_rate`"),
        ({"norm": ("instance",)}, "`norm`"),
    ],
)
def test_ill_arg(kwargs: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Cryo2StructModel(**{**TINY_KWARGS, **kwargs})


def test_ill_config_is_refused() -> None:
    with pytest.raises(ValueError, match="`ext_layers`"):
        model_config({"name": "cryo2struct", "ext_layers": [3, 6, 9]})


@pytest.mark.parametrize("shape", [(2, 1, 32, 32, 32), (2, 2, 16, 16, 16), (1, 16, 16, 16)])
def test_wrong_input_is_refused(shape: tuple[int, ...]) -> None:
    model = Cryo2StructModel(**TINY_KWARGS)
    with pytest.raises(ValueError, match="16"):
        model(torch.zeros(shape))
