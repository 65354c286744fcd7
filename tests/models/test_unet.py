"""The plain U-Net baseline: regression and classification shapes, gradients, refusals."""

from __future__ import annotations

import pytest
import torch

from cryoray.models import build_model
from cryoray.models.unet import UNetModel
from tests.support.models import TINY, box, model_config, parameters_without_gradient, tiny_model

TINY_KWARGS = TINY["unet"].network_kwargs()


@pytest.mark.parametrize(("out_channels", "side"), [(1, 16), (3, 16), (1, 32)])
def test_shape(out_channels: int, side: int) -> None:
    """Regression (1 channel) or class logits; any box side that is a multiple of the strides."""
    model = UNetModel(**{**TINY_KWARGS, "out_channels": out_channels}).eval()
    with torch.no_grad():
        outputs = model(box(side=side))
    assert model.out_channels_by_head == {"output": out_channels}
    assert outputs["output"].shape == (2, out_channels, side, side, side)


def test_every_parameter_gets_a_gradient() -> None:
    model = UNetModel(**TINY_KWARGS)
    assert parameters_without_gradient(model, model(box())) == []


def test_default_is_the_five_level_network_on_48_boxes() -> None:
    model = UNetModel().eval()
    with torch.no_grad():
        assert model(box(batch=1, side=48))["output"].shape == (1, 1, 48, 48, 48)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"strides": (2,)}, "`strides`"),
        ({"channels": (4,), "strides": ()}, "`strides`"),
        ({"img_size": 18}, "`img_size`"),
        ({"num_res_units": -1}, "`num_res_units`"),
        ({"act": 3}, "`act`"),
    ],
)
def test_ill_arg(kwargs: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        UNetModel(**{**TINY_KWARGS, **kwargs})


def test_box_not_a_multiple_of_the_strides_is_refused() -> None:
    with pytest.raises(ValueError, match="multiples of 4"):
        UNetModel(**TINY_KWARGS)(box(side=18))


def test_residual_unet_starts_as_the_identity_and_learns_a_change() -> None:
    model = build_model(model_config(tiny_model("unet", residual=True)))
    x = box()
    assert torch.equal(model(x)["output"], x)  # untrained: the input exactly
    model(x)["output"].sum().backward()
    assert model.residual_scale.grad is not None and model.residual_scale.grad.abs().item() > 0
    with pytest.raises(ValueError, match="`residual`"):
        model_config(tiny_model("unet", residual=True, out_channels=2))


def test_named_heads_split_the_last_layer_and_configs_accept_them() -> None:
    """A builder U-Net: a Cα heatmap head and an amino-acid head sharing one network."""
    model = UNetModel(**{**TINY_KWARGS, "out_channels": {"ca": 1, "amino_acid": 21}}).eval()
    with torch.no_grad():
        outputs = model(box(side=16))
    assert model.heads == ("ca", "amino_acid")
    assert {k: v.shape[1] for k, v in outputs.items()} == {"ca": 1, "amino_acid": 21}
    built = build_model(model_config({**TINY["unet"].model_dump(), "out_channels": {"ca": 1, "amino_acid": 21}}))
    assert built.out_channels_by_head == {"ca": 1, "amino_acid": 21}
    with pytest.raises(ValueError, match=r"out_channels\[ca\]"):
        UNetModel(**{**TINY_KWARGS, "out_channels": {"ca": 0}})
    with pytest.raises(ValueError, match="at least one head"):
        UNetModel(**{**TINY_KWARGS, "out_channels": {}})
    with pytest.raises(ValueError, match="residual"):
        UNetModel(**{**TINY_KWARGS, "out_channels": {"output": 1}, "residual": True})
