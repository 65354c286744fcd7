"""CryoSAMU's network: shapes with and without an embedding, "no structure", refusals, learning to use it."""

from __future__ import annotations

import pytest
import torch

from cryoray.models import CryoSAMUConfig, build_model
from cryoray.models.cryosamu import CryoSAMUModel
from tests.support.models import TINY, box, parameter_count, parameters_without_gradient

TINY_KWARGS = TINY["cryosamu"].network_kwargs()
DIM = TINY_KWARGS["embedding_dim"]


def embedding(batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, DIM, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("with_embedding", [False, True], ids=["no-structure", "embedding"])
@pytest.mark.parametrize(("side", "batch"), [(16, 2), (32, 1), (8, 3)], ids=["16", "32", "8"])
def test_shape(side: int, batch: int, with_embedding: bool) -> None:
    model = CryoSAMUModel(**TINY_KWARGS).eval()
    extra = {"embedding": embedding(batch)} if with_embedding else {}
    with torch.no_grad():
        outputs = model(box(batch=batch, side=side), **extra)
    assert tuple(outputs) == model.heads == ("output",)
    assert outputs["output"].shape == (batch, 1, side, side, side)
    assert model.embedding_dim == DIM


def test_the_embedding_changes_the_output_and_none_uses_the_no_structure_tokens() -> None:
    torch.manual_seed(0)
    model = CryoSAMUModel(**TINY_KWARGS).eval()
    x = box()
    with torch.no_grad():
        plain = model(x)["output"]
        first, second = model(x, embedding=embedding(seed=1))["output"], model(x, embedding=embedding(seed=2))["output"]
        model.no_structure.mul_(2)
        changed = model(x)["output"]
    assert not torch.allclose(first, plain) and not torch.allclose(first, second)
    assert not torch.allclose(changed, plain)  # without an embedding the output depends on the learned tokens


def test_embedding_dropout_replaces_boxes_by_no_structure_in_training_only() -> None:
    torch.manual_seed(0)
    model = CryoSAMUModel(**{**TINY_KWARGS, "embedding_dropout": 0.999}).train()
    x, e = box(), embedding()
    with torch.no_grad():
        assert torch.allclose(model(x, embedding=e)["output"], model(x)["output"])
        model.eval()
        assert not torch.allclose(model(x, embedding=e)["output"], model(x)["output"])


def test_every_parameter_gets_a_gradient_with_embeddings_and_dropout() -> None:
    """What DDP needs: both token sets are in every step's graph."""
    torch.manual_seed(0)
    model = CryoSAMUModel(**TINY_KWARGS).train()
    assert parameters_without_gradient(model, model(box(), embedding=embedding())) == []


def test_residual_network_starts_as_the_identity() -> None:
    model = CryoSAMUModel(**{**TINY_KWARGS, "residual": True}).eval()
    x = box()
    with torch.no_grad():
        torch.testing.assert_close(model(x, embedding=embedding())["output"], x, rtol=0, atol=0)


def test_default_config_is_the_constructor_default() -> None:
    config = CryoSAMUConfig()
    assert (config.img_size, config.channels, config.embedding_dim, config.num_heads) == (
        48,
        (32, 64, 128, 256),
        512,
        8,
    )
    assert parameter_count(lambda: build_model(config)) == parameter_count(CryoSAMUModel) == 9_747_730


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"channels": (4,)}, "`channels`"),
        ({"channels": (4, 0)}, "`channels`"),
        ({"img_size": 18}, "`img_size`"),
        ({"num_heads": 3}, "`num_heads`"),
        ({"embedding_dim": 0}, "`embedding_dim`"),
        ({"embedding_tokens": 0}, "`embedding_tokens`"),
        ({"bottleneck_depth": 0}, "`bottleneck_depth`"),
        ({"embedding_dropout": 1.0}, "`embedding_dropout`"),
        ({"dropout_rate": -0.1}, "`dropout_rate`"),
        ({"norm": 3}, "`norm`"),
        ({"residual": True, "out_channels": 2}, "`residual`"),
    ],
)
def test_ill_arg(kwargs: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        CryoSAMUModel(**{**TINY_KWARGS, **kwargs})


@pytest.mark.parametrize(
    ("shape", "embedding_shape", "message"),
    [
        ((2, 1, 18, 16, 16), None, "multiples of 4"),
        ((2, 2, 16, 16, 16), None, r"\(B, 1"),
        ((2, 1, 16, 16, 16), (2, DIM + 1), "`embedding` must have shape"),
        ((2, 1, 16, 16, 16), (1, DIM), "`embedding` must have shape"),
    ],
)
def test_bad_input_is_refused(shape: tuple, embedding_shape: tuple | None, message: str) -> None:
    extra = {} if embedding_shape is None else {"embedding": torch.zeros(embedding_shape)}
    with pytest.raises(ValueError, match=message):
        CryoSAMUModel(**TINY_KWARGS)(torch.zeros(shape), **extra)


def test_learns_to_use_the_embedding() -> None:
    """Boxes of the same kind of noise whose target is +1 or -1 by their embedding: only the embedding tells.

    After 60 Adam steps the loss with the right embeddings must fall below a tenth of the start
    and below a tenth of the loss with swapped ones (an unused embedding gives equal losses).
    """
    torch.manual_seed(0)
    model = CryoSAMUModel(**{**TINY_KWARGS, "embedding_dropout": 0.0})
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    signs = torch.tensor([1.0, -1.0] * 2)[:, None, None, None, None]
    codes = torch.zeros(4, DIM)
    codes[0::2, 0], codes[1::2, 1] = 1.0, 1.0

    def loss(x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return ((model(x, embedding=code)["output"] - signs) ** 2).mean()

    x = box(batch=4, side=8, seed=5)
    with torch.no_grad():
        start = float(loss(x, codes))
    for step in range(60):
        optimizer.zero_grad()
        loss(box(batch=4, side=8, seed=100 + step), codes).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        right, swapped = float(loss(x, codes)), float(loss(x, codes.flip(0)))
    assert right < 0.1 * start, (start, right)
    assert right < 0.1 * swapped, (right, swapped)
