"""CryoRes's network: three heads and their shapes, a per-box global value, gradients, refusals."""

from __future__ import annotations

import pytest
import torch

from cryoray.models import CryoResConfig, build_model
from cryoray.models.cryores import CRYORES_HEADS, CryoResModel
from tests.support.models import TINY, box, parameter_count, parameters_without_gradient

TINY_KWARGS = TINY["cryores"].network_kwargs()


@pytest.mark.parametrize(("side", "batch"), [(16, 2), (32, 1), (8, 3)], ids=["16", "32", "8"])
def test_shape(side: int, batch: int) -> None:
    """Any box side that is a multiple of the downsampling; every head at full resolution."""
    model = CryoResModel(**TINY_KWARGS).eval()
    with torch.no_grad():
        outputs = model(box(batch=batch, side=side))
    assert tuple(outputs) == CRYORES_HEADS == model.heads
    assert model.out_channels_by_head == {"global": 1, "relative": 1, "mask": 2}
    for head, channels in model.out_channels_by_head.items():
        assert outputs[head].shape == (batch, channels, side, side, side)


def test_global_is_one_value_per_box_and_differs_between_boxes() -> None:
    model = CryoResModel(**TINY_KWARGS).eval()
    x = box(batch=2)
    x[1] *= 3.0  # a different box must get a different value
    with torch.no_grad():
        global_ = model(x)["global"]
    per_box = global_.flatten(1)
    assert torch.equal(per_box, per_box[:, :1].expand_as(per_box))
    assert per_box[0, 0] != per_box[1, 0]


def test_every_parameter_gets_a_gradient() -> None:
    model = CryoResModel(**TINY_KWARGS)
    assert parameters_without_gradient(model, model(box())) == []


def test_levels_follow_channels() -> None:
    model = CryoResModel(**{**TINY_KWARGS, "channels": (2, 4, 8, 16)}).eval()
    assert model.downsampling == 8
    assert len(model.encoder) == 4 and len(model.up) == len(model.decoder) == 3
    with torch.no_grad():
        assert model(box(batch=1, side=16))["mask"].shape == (1, 2, 16, 16, 16)


def test_default_config_is_the_constructor_default() -> None:
    config = CryoResConfig()
    assert (config.img_size, config.channels, config.hidden_size) == (64, (16, 32, 64, 128), 64)
    assert parameter_count(lambda: build_model(config)) == parameter_count(CryoResModel)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"channels": (4,)}, "`channels`"),
        ({"channels": (4, 0)}, "`channels`"),
        ({"img_size": 18}, "`img_size`"),
        ({"num_res_units": 0}, "`num_res_units`"),
        ({"hidden_size": 0}, "`hidden_size`"),
        ({"dropout_rate": 1.0}, "`dropout_rate`"),
        ({"norm": 3}, "`norm`"),
    ],
)
def test_ill_arg(kwargs: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        CryoResModel(**{**TINY_KWARGS, **kwargs})


@pytest.mark.parametrize(
    ("shape", "message"), [((2, 1, 18, 16, 16), "multiples of 4"), ((2, 2, 16, 16, 16), r"\(B, 1")]
)
def test_bad_input_is_refused(shape: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CryoResModel(**TINY_KWARGS)(torch.zeros(shape))
