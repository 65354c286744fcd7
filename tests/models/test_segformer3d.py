"""SegFormer3D (Cryo2Struct2): two heads, the sequence embedding, gradients, sizes, refusals."""

from __future__ import annotations

import functools

import pytest
import torch

from cryoray.models.segformer3d import SegFormer3DModel
from tests.support.models import TINY, box, parameter_count, parameters_without_gradient

TINY_KWARGS = TINY["segformer3d"].network_kwargs()
SEQ = 6


def embedding(batch: int = 2, seed: int = 5) -> torch.Tensor:
    return torch.randn(batch, SEQ, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("side", [16, 32])
def test_shape(side: int) -> None:
    model = SegFormer3DModel(**TINY_KWARGS).eval()
    with torch.no_grad():
        outputs = model(box(side=side))
    assert model.heads == ("atom", "amino_acid") == tuple(outputs)
    assert model.out_channels_by_head == {"atom": 4, "amino_acid": 21}
    assert outputs["atom"].shape == (2, 4, side, side, side)
    assert outputs["amino_acid"].shape == (2, 21, side, side, side)


def test_every_parameter_gets_a_gradient_without_embedding() -> None:
    model = SegFormer3DModel(**TINY_KWARGS)
    assert model.sequence_projections is None
    assert parameters_without_gradient(model, model(box())) == []


def test_every_parameter_gets_a_gradient_with_embedding() -> None:
    model = SegFormer3DModel(**{**TINY_KWARGS, "seq_embedding_dim": SEQ})
    assert parameters_without_gradient(model, model(box(), embedding())) == []


def test_embedding_is_optional_and_changes_the_output() -> None:
    torch.manual_seed(0)
    model = SegFormer3DModel(**{**TINY_KWARGS, "seq_embedding_dim": SEQ}).eval()
    x = box()
    with torch.no_grad():
        plain, with_seq, other_seq = model(x), model(x, embedding()), model(x, embedding(seed=6))
    for head in model.heads:
        assert plain[head].shape == with_seq[head].shape
        assert not torch.allclose(plain[head], with_seq[head])
        assert not torch.allclose(with_seq[head], other_seq[head])


def test_amino_head_reads_the_atom_head_but_not_the_reverse() -> None:
    torch.manual_seed(0)
    model = SegFormer3DModel(**TINY_KWARGS).eval()
    x = box()
    with torch.no_grad():
        before = model(x)
        model.atom_head.fuse.conv.weight.mul_(2.0)  # the atom head's pre-logit features
        atom_changed = model(x)
        model.amino_head.classify.weight.mul_(2.0)
        amino_changed = model(x)
    assert model.amino_head.fuse.conv.in_channels == 3 * 8  # two stages + the atom features
    assert not torch.allclose(before["amino_acid"], atom_changed["amino_acid"])
    torch.testing.assert_close(atom_changed["atom"], amino_changed["atom"], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({}, "`seq_embedding_dim` None"), ({"seq_embedding_dim": SEQ + 1}, "must have shape")],
)
def test_unusable_embedding_is_refused(kwargs: dict, message: str) -> None:
    model = SegFormer3DModel(**{**TINY_KWARGS, **kwargs})
    with pytest.raises(ValueError, match=message):
        model(box(), embedding())


def test_published_configuration_sizes() -> None:
    """Cryo2Struct2 publishes no count; SegFormer3D's own configuration checks the blocks.

    SegFormer3D reports 4.5 M parameters (rounded to 0.1 M, so ±0.05 M) for depths 2, one
    decoder, 4 input channels and 3 classes. Cryo2Struct2's configuration counts 12,886,777 here;
    the 2560-d sequence embedding adds one (2560 + 1) × width projection per stage.
    """
    reference = SegFormer3DModel(in_channels=4, atom_classes=3, depths=(2, 2, 2, 2), img_size=128)
    one_head = sum(p.numel() for part in (reference.stages, reference.atom_head) for p in part.parameters())
    assert abs(one_head - 4.5e6) <= 0.05e6
    published = parameter_count(SegFormer3DModel)
    assert published == 12_886_777
    with_sequence = parameter_count(functools.partial(SegFormer3DModel, seq_embedding_dim=2560))
    assert with_sequence - published == 2561 * (32 + 64 + 160 + 256)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"depths": (1,)}, "`depths` has 1"),
        ({"num_heads": (3, 4)}, "`num_heads` \\(3\\)"),
        ({"img_size": 10}, "`img_size` \\(10\\)"),
        ({"sr_ratios": (3, 1)}, "`sr_ratios`"),
        ({"patch_kernel_sizes": (4, 3)}, "`patch_kernel_sizes`"),
        ({"amino_classes": 0}, "`amino_classes`"),
    ],
)
def test_ill_arg(kwargs: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        SegFormer3DModel(**{**TINY_KWARGS, **kwargs})


def test_box_not_a_multiple_of_the_strides_is_refused() -> None:
    with pytest.raises(ValueError, match="multiples of 4"):
        SegFormer3DModel(**TINY_KWARGS)(box(side=18))
