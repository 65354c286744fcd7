"""UNETR (Cryo2Struct): shapes, gradients for DDP, the published size, refusals."""

from __future__ import annotations

import functools

import pytest
import torch

from cryoray.models.unetr import UNETRModel
from tests.support.models import TINY, box, parameter_count, parameters_without_gradient

TINY_KWARGS = TINY["unetr"].network_kwargs()

#: Cryo2Struct (Giri dissertation, Fig. 4.6): parameters of the atom (4) and amino-acid (21) models.
PUBLISHED = {4: 92_281_604, 21: 92_281_893}


@pytest.mark.parametrize("out_channels", [4, 21])
def test_shape(out_channels: int) -> None:
    model = UNETRModel(**{**TINY_KWARGS, "out_channels": out_channels}).eval()
    with torch.no_grad():
        outputs = model(box())
    assert model.heads == ("output",) and model.out_channels_by_head == {"output": out_channels}
    assert outputs["output"].shape == (2, out_channels, 16, 16, 16)


def test_every_parameter_gets_a_gradient() -> None:
    """MONAI's unused cross-attention norms are gone, so DDP sees no parameter without a gradient."""
    model = UNETRModel(**TINY_KWARGS)
    assert parameters_without_gradient(model, model(box())) == []
    assert not any("norm_cross_attn" in name for name, _ in model.named_parameters())


def test_published_configuration_size() -> None:
    """Within 0.5 % of the dissertation's counts, which came from an older MONAI UNETR.

    MONAI 1.6.1 gives 92,624,132 (+0.37 %); the 12 unused cross-attention norms (18,432) are
    already removed. The two models differ only in their 1×1×1 classifier: 17 × 17 = 289.
    """
    counts = {classes: parameter_count(functools.partial(UNETRModel, out_channels=classes)) for classes in PUBLISHED}
    assert counts[4] == 92_624_132
    assert counts[21] - counts[4] == PUBLISHED[21] - PUBLISHED[4] == 289
    for classes, published in PUBLISHED.items():
        assert abs(counts[classes] - published) / published < 0.005


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"img_size": 24}, "`img_size`"),
        ({"hidden_size": 30}, "`hidden_size`"),
        ({"num_heads": 0}, "`num_heads`"),
        ({"dropout_rate": 1.0}, "`dropout_rate`"),
        ({"norm": ("instance",)}, "`norm`"),
    ],
)
def test_ill_arg(kwargs: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        UNETRModel(**{**TINY_KWARGS, **kwargs})


@pytest.mark.parametrize("shape", [(2, 1, 32, 32, 32), (2, 2, 16, 16, 16), (1, 16, 16, 16)])
def test_wrong_input_is_refused(shape: tuple[int, ...]) -> None:
    model = UNETRModel(**TINY_KWARGS)
    with pytest.raises(ValueError, match="16"):
        model(torch.zeros(shape))
