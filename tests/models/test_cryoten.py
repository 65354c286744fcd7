"""CryoTEN's published network: the reference checkpoint's output, the published layout, config, refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from cryoray.models import CryoTENConfig, build_model
from cryoray.models.cryoten import CryoTENAttention, CryoTENModel, cryoten_kwargs_from_state_dict
from tests.support.models import box, model_config, parameter_count, parameters_without_gradient

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "published_networks"

#: A small CryoTEN on 16³ boxes (sides 8, 4, 2, 1), fast on 2 CPU cores.
TINY_KWARGS = {
    "img_size": 16,
    "feature_size": 4,
    "hidden_size": 32,
    "num_heads": 2,
    "depths": (1, 1, 1, 1),
    "dims": (4, 8, 16, 32),
    "proj_sizes": (8, 8, 4, 2),
    "decoder_depths": (1, 1, 1),
    "decoder_proj_sizes": (8, 8, 4),
}


def _reference(name: str) -> Path:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference file {path} is missing (shared/reference/published_networks is not checked out)")
    return path


@pytest.fixture(scope="module")
def shared_state() -> dict[str, torch.Tensor]:
    """The reference checkpoint's state dict, ``net.`` prefix kept (as the checkpoint has it)."""
    checkpoint = torch.load(_reference("cryoten_shared.ckpt"), weights_only=True, map_location="cpu")
    return checkpoint["state_dict"]


@pytest.fixture(scope="module")
def published_shapes() -> dict:
    return json.loads(_reference("cryoten_full_state_dict_shapes.json").read_text())


def test_shared_checkpoint_reproduces_the_reference_output(shared_state: dict[str, torch.Tensor]) -> None:
    """CryoTEN's own code on the reference input, eval mode: same output to float32 rounding."""
    io = np.load(_reference("cryoten_shared_io.npz"))
    state = {name.removeprefix("net."): tensor for name, tensor in shared_state.items()}
    model = CryoTENModel(**cryoten_kwargs_from_state_dict(state))
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        output = model(torch.from_numpy(io["input"]))["output"]
    reference = torch.from_numpy(io["output"])
    assert output.shape == reference.shape == (2, 1, 48, 48, 48)
    assert (output - reference).abs().max().item() <= 1e-5


def test_shapes_give_the_shared_small_configuration(shared_state: dict[str, torch.Tensor]) -> None:
    """The prefix is stripped, and every setting is read off the shapes (the checkpoint holds none)."""
    assert cryoten_kwargs_from_state_dict(shared_state) == {
        "in_channels": 1,
        "out_channels": 1,
        "img_size": 48,
        "patch_size": 2,
        "feature_size": 4,
        "hidden_size": 64,
        "num_heads": 4,
        "depths": (1, 1, 1, 1),
        "dims": (8, 16, 32, 64),
        "proj_sizes": (64, 64, 64, 32),
        "decoder_depths": (3, 3, 3),
        "decoder_proj_sizes": (64, 64, 64),
        "norm": "instance",
    }


def test_published_configuration_has_the_published_layout(published_shapes: dict) -> None:
    """The defaults give the published tensors: same names, order and shapes, 29,505,881 parameters."""
    assert parameter_count(CryoTENModel) == published_shapes["n_parameters"] == 29_505_881
    with torch.device("meta"):
        model = CryoTENModel()
    ours = [(name, list(tensor.shape)) for name, tensor in model.state_dict().items()]
    assert ours == list(published_shapes["state_dict_shapes"].items())


def test_published_shapes_give_the_defaults(published_shapes: dict) -> None:
    kwargs = cryoten_kwargs_from_state_dict(published_shapes["state_dict_shapes"])
    defaults = CryoTENConfig().network_kwargs()
    assert kwargs == {name: value for name, value in defaults.items() if name != "dropout_rate"}


def test_unreadable_state_dicts_are_refused(published_shapes: dict) -> None:
    shapes = dict(published_shapes["state_dict_shapes"])
    with pytest.raises(ValueError, match="missing"):
        cryoten_kwargs_from_state_dict({k: v for k, v in shapes.items() if "decoder4.decoder_block.0.1.conv8" not in k})
    with pytest.raises(ValueError, match=r"unexpected: decoder2\.extra\.weight"):
        cryoten_kwargs_from_state_dict({**shapes, "decoder2.extra.weight": [1]})
    with pytest.raises(ValueError, match="wrong shape"):
        cryoten_kwargs_from_state_dict({**shapes, "decoder5.decoder_block.0.1.gamma": [5]})
    with pytest.raises(ValueError, match=re.escape("'out1.conv.conv.weight' is missing")):
        cryoten_kwargs_from_state_dict({k: v for k, v in shapes.items() if not k.startswith("out1.")})


def test_config_name_alone_builds_the_published_network() -> None:
    config = model_config({"name": "cryoten"})
    assert isinstance(config, CryoTENConfig)
    assert config.network_kwargs() == CryoTENConfig().network_kwargs()
    with torch.device("meta"):
        model = build_model(config)
    assert isinstance(model, CryoTENModel)
    assert model.heads == ("output",) and model.out_channels_by_head == {"output": 1}
    assert (model.in_channels, model.img_size) == (1, 48)


def test_tiny_network_keeps_the_output_contract_and_trains_every_parameter() -> None:
    torch.manual_seed(0)
    model = build_model(CryoTENConfig(**TINY_KWARGS, out_channels=2))
    outputs = model(box())
    assert tuple(outputs) == model.heads
    assert outputs["output"].shape == (2, 2, 16, 16, 16)
    assert parameters_without_gradient(model, outputs) == []
    with pytest.raises(ValueError, match="16³ boxes"):
        model(box(side=32))


def test_attention_sums_its_two_branches_at_full_width() -> None:
    torch.manual_seed(0)
    epa = CryoTENAttention(hidden_size=8, num_tokens=27, proj_size=4, num_heads=2, dropout_rate=0.0).eval()
    assert [name for name, _ in epa.named_parameters()] == ["temperature", "temperature2", "EF", "qkvv.weight"]
    tokens = torch.randn(2, 27, 8)
    with torch.no_grad():
        both, second_alone = epa(tokens), epa(tokens[1:])
    assert both.shape == (2, 27, 8)
    torch.testing.assert_close(both[1:], second_alone)  # no mixing across the batch


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"img_size": 20}, "`img_size` (20)"),
        ({"hidden_size": 16}, "`hidden_size` (16)"),
        ({"num_heads": 3}, "`num_heads` (3)"),
        ({"dims": (4, 8, 32), "depths": (1, 1, 1), "proj_sizes": (8, 8, 4)}, "4 stages"),
        ({"depths": (1, 1, 1)}, "`depths` has 3"),
        ({"decoder_depths": (1, 1)}, "`decoder_depths`"),
        ({"decoder_proj_sizes": (8, 0, 4)}, "`decoder_proj_sizes`"),
        ({"dropout_rate": 1.0}, "`dropout_rate`"),
        ({"norm": ["instance"]}, "`norm`"),
    ],
)
def test_ill_arg(kwargs: dict, named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        CryoTENModel(**{**TINY_KWARGS, **kwargs})
