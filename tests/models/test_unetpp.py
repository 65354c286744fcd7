"""struc2mapGAN's networks: the U-Net++ generator, the 3D discriminator and the pair, with a learning check each."""

from __future__ import annotations

import pytest
import torch

from cryoray.losses.adversarial import discriminator_loss, generator_adversarial_loss
from cryoray.models import Struc2mapGANConfig, build_model
from cryoray.models.discriminator import Discriminator3D
from cryoray.models.struc2mapgan import Struc2mapGANModel
from cryoray.models.unetpp import UNetPlusPlus
from tests.support.models import TINY, box, parameter_count, parameters_without_gradient

TINY_GAN = TINY["struc2mapgan"].network_kwargs()
TINY_UNETPP = {"features": (4, 8, 16)}
TINY_DISC = {"channels": (4, 8), "strides": (2, 2), "hidden": (8,)}


@pytest.mark.parametrize(
    ("features", "out_channels", "side"), [((4, 8), 1, 16), ((4, 8, 16), 2, 16), ((4, 8, 16), 1, 32)]
)
def test_unetpp_shape(features: tuple, out_channels: int, side: int) -> None:
    model = UNetPlusPlus(features=features, out_channels=out_channels, img_size=side).eval()
    with torch.no_grad():
        outputs = model(box(side=side))
    assert model.out_channels_by_head == {"output": out_channels}
    assert outputs["output"].shape == (2, out_channels, side, side, side)


def test_unetpp_nests_every_node_of_the_published_four_levels() -> None:
    """Depth 3 (four levels) has the 10 nodes X^{i,j}, i + j <= 3, the decoder nodes fed by all earlier ones."""
    model = UNetPlusPlus()
    assert sorted(model.nodes) == sorted(f"{i}_{j}" for i in range(4) for j in range(4 - i))
    # X^{0,3} takes X^{0,0..2} (3 × 32) and the upsampled X^{1,2} (64)
    assert model.nodes["0_3"].conv1.conv.in_channels == 3 * 32 + 64


def test_every_parameter_gets_a_gradient() -> None:
    unetpp = UNetPlusPlus(**TINY_UNETPP)
    assert parameters_without_gradient(unetpp, unetpp(box())) == []
    disc = Discriminator3D(**TINY_DISC)
    assert parameters_without_gradient(disc, {"logits": disc(box())}) == []


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"features": (4,)}, "`features`"),
        ({"features": (4, 0)}, "`features`"),
        ({"img_size": 18}, "`img_size`"),
        ({"dropout_rate": 1.0}, "`dropout_rate`"),
        ({"norm": 3}, "`norm`"),
    ],
)
def test_unetpp_ill_arg(kwargs: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        UNetPlusPlus(**{**TINY_UNETPP, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"channels": ()}, "`channels`"),
        ({"strides": (2,)}, "one entry per stage"),
        ({"hidden": (0,)}, "`hidden`"),
        ({"act": ("relu",)}, "`act`"),
    ],
)
def test_discriminator_ill_arg(kwargs: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Discriminator3D(**{**TINY_DISC, **kwargs})


def test_wrong_input_is_refused() -> None:
    with pytest.raises(ValueError, match="multiples of 4"):
        UNetPlusPlus(**TINY_UNETPP)(box(side=18))
    with pytest.raises(ValueError, match=r"\(B, 1, D, H, W\)"):
        Discriminator3D(**TINY_DISC)(box(channels=2))
    with pytest.raises(ValueError, match="must be"):
        discriminator_loss(torch.zeros(2), torch.zeros(2))


def test_discriminator_takes_any_box_and_gives_one_logit() -> None:
    disc = Discriminator3D(**TINY_DISC).eval()
    with torch.no_grad():
        assert disc(box(batch=3, side=16)).shape == (3, 1)
        assert disc(box(batch=1, side=20)).shape == (1, 1)


def test_pair_is_the_generator_on_scaled_input() -> None:
    model = build_model(TINY["struc2mapgan"]).eval()
    assert isinstance(model, Struc2mapGANModel)
    x = box().abs()
    with torch.no_grad():
        assert torch.equal(model(x)["output"], model.generator(x / model.input_scale)["output"])
    keys = model.state_dict().keys()
    assert any(k.startswith("generator.") for k in keys) and any(k.startswith("discriminator.") for k in keys)


def test_published_sizes_are_the_default() -> None:
    config = Struc2mapGANConfig()
    assert (config.img_size, config.features, config.disc_channels, config.disc_hidden) == (
        32,
        (32, 64, 128, 256),
        (32, 64, 128, 256),
        (100, 25),
    )
    generator = parameter_count(lambda: UNetPlusPlus())
    assert generator == 6_824_875  # four levels of MONAI residual blocks (1×1×1 projections on the skips)
    with pytest.raises(ValueError, match="`input_scale`"):
        Struc2mapGANModel(**{**TINY_GAN, "input_scale": 0.0})


def test_unetpp_learns_a_smoothing() -> None:
    """40 Adam steps on 4 fixed boxes: the SmoothL1 loss against a blurred copy must fall below a third."""
    torch.manual_seed(0)
    model = UNetPlusPlus(**TINY_UNETPP)
    x = box(batch=4, seed=1).clamp(min=0)
    target = torch.nn.functional.avg_pool3d(x, 3, stride=1, padding=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.smooth_l1_loss(model(x)["output"], target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0] / 3, losses[::10]


def test_discriminator_learns_to_tell_smooth_from_noisy_boxes() -> None:
    """60 steps: its loss on boxes of noise (fake) vs their smoothed copies (real) drops well below log 2."""
    torch.manual_seed(0)
    disc = Discriminator3D(**TINY_DISC)
    optimizer = torch.optim.Adam(disc.parameters(), lr=3e-3)
    noise = box(batch=6, seed=2)
    smooth = torch.nn.functional.avg_pool3d(noise, 5, stride=1, padding=2)
    for _ in range(60):
        loss = discriminator_loss(disc(smooth), disc(noise))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        assert float(discriminator_loss(disc(smooth), disc(noise))) < 0.3
        # and a generator that produced the noisy boxes would be told it fails: high adversarial loss
        assert float(generator_adversarial_loss(disc(noise))) > 1.0
