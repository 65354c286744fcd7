"""CryoRes's loss: each term on hand-made inputs, the weighting, the mask's role, refusals."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cryoray.losses import CryoResLoss, LossConfig, build_loss, log_absolute_error
from cryoray.models.cryores import CryoResModel
from tests.support.models import TINY, box

SIDE = 4


def _outputs(global_: list[float], relative: torch.Tensor, logits: torch.Tensor) -> dict[str, torch.Tensor]:
    batch = len(global_)
    g = torch.tensor(global_)[:, None, None, None, None].expand(batch, 1, SIDE, SIDE, SIDE)
    return {"global": g, "relative": relative, "mask": logits}


def _targets(global_: list[float], batch: int = 1) -> dict[str, torch.Tensor]:
    """Targets with a zero relative resolution and the half mask."""
    relative = torch.zeros(batch, 1, SIDE, SIDE, SIDE)
    return {"global": torch.tensor(global_), "relative": relative, "mask": _half_mask(batch)}


def _half_mask(batch: int = 1) -> torch.Tensor:
    """Target mask: the first two z-sections are molecule."""
    mask = torch.zeros(batch, 1, SIDE, SIDE, SIDE)
    mask[:, :, :2] = 1
    return mask


def test_log_absolute_error_values() -> None:
    # |errors| 9, 99, 0, 0 -> log10 1, 2, 0, 0
    got = log_absolute_error(torch.tensor([9.0, -99.0, 2.0, 0.0]), torch.tensor([0.0, 0.0, 2.0, 0.0]))
    assert got.item() == pytest.approx(3 / 4)
    mask = torch.tensor([True, True, False, False])
    assert log_absolute_error(torch.tensor([9.0, -99.0, 2.0, 0.0]), torch.zeros(4), mask).item() == pytest.approx(1.5)


def test_log_absolute_error_on_an_empty_mask_is_zero_with_a_graph() -> None:
    x = torch.ones(4, requires_grad=True)
    loss = log_absolute_error(x, torch.zeros(4), torch.zeros(4, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(x.grad, torch.zeros(4))


def test_each_term_on_hand_made_inputs() -> None:
    """Global 5 vs 3 Å, relative off by 9 Å inside the mask and by 999 Å outside, logits 0 (p = 0.5)."""
    relative = torch.zeros(1, 1, SIDE, SIDE, SIDE)
    relative[:, :, :2] = 9.0
    relative[:, :, 2:] = 999.0  # outside the target mask: ignored by default
    outputs = _outputs([5.0], relative, torch.zeros(1, 2, SIDE, SIDE, SIDE))
    targets = _targets([3.0])
    result = CryoResLoss(rel_weight=0.25)(outputs, targets)
    assert result.terms["global"].item() == pytest.approx(4.0)
    assert result.terms["relative"].item() == pytest.approx(1.0)
    assert result.terms["mask"].item() == pytest.approx(math.log(2))
    assert result.total.item() == pytest.approx(4.0 + 0.25 * 1.0 + math.log(2))
    # every voxel: half at log10(10) = 1, half at log10(1000) = 3
    every = CryoResLoss(relative_inside_mask=False)(outputs, targets)
    assert every.terms["relative"].item() == pytest.approx(2.0)


def test_mask_term_is_the_binary_cross_entropy_of_the_molecule_probability() -> None:
    logits = torch.randn(2, 2, SIDE, SIDE, SIDE, generator=torch.Generator().manual_seed(0))
    mask = _half_mask(2)
    outputs = _outputs([1.0, 2.0], torch.zeros(2, 1, SIDE, SIDE, SIDE), logits)
    targets = {"global": torch.tensor([[1.0], [2.0]]), "relative": torch.zeros(2, 1, SIDE, SIDE, SIDE), "mask": mask}
    result = CryoResLoss()(outputs, targets)
    p = torch.softmax(logits, dim=1)[:, 1:]
    expected = F.binary_cross_entropy(p, mask)
    assert result.terms["mask"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert result.terms["global"].item() == 0.0 and result.terms["relative"].item() == 0.0
    # a perfect, confident mask costs almost nothing
    confident = torch.cat([(1 - mask) * 20, mask * 20], dim=1)
    assert CryoResLoss()({**outputs, "mask": confident}, targets).terms["mask"].item() < 1e-6


def test_global_term_averages_the_squared_errors_of_the_boxes() -> None:
    outputs = _outputs([5.0, 1.0], torch.zeros(2, 1, SIDE, SIDE, SIDE), torch.zeros(2, 2, SIDE, SIDE, SIDE))
    targets = {
        "global": torch.tensor([3.0, 4.0]),
        "relative": torch.zeros(2, 1, SIDE, SIDE, SIDE),
        "mask": _half_mask(2),
    }
    assert CryoResLoss()(outputs, targets).terms["global"].item() == pytest.approx((4 + 9) / 2)


def test_trains_the_network_end_to_end() -> None:
    """The loss backpropagates into every head of the tiny network and one step lowers it."""
    torch.manual_seed(0)
    model = CryoResModel(**TINY["cryores"].network_kwargs())
    x = box(batch=2)
    targets = {
        "global": torch.tensor([3.0, 6.0]),
        "relative": torch.randn(2, 1, 16, 16, 16),
        "mask": (x > 0).float(),
    }
    loss = CryoResLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = loss(model(x), targets)
    first.total.backward()
    assert all(p.grad is not None for p in model.parameters())
    optimizer.step()
    assert loss(model(x), targets).total.item() < first.total.item()


@pytest.mark.parametrize("rel_weight", [-1.0, float("inf"), float("nan")])
def test_bad_weight_is_refused(rel_weight: float) -> None:
    with pytest.raises(ValueError, match="`rel_weight`"):
        CryoResLoss(rel_weight=rel_weight)


def test_mismatched_shapes_are_refused_naming_both() -> None:
    outputs = _outputs([5.0], torch.zeros(1, 1, SIDE, SIDE, SIDE), torch.zeros(1, 2, SIDE, SIDE, SIDE))
    targets = {
        "global": torch.tensor([3.0, 1.0]),
        "relative": torch.zeros(1, 1, SIDE, SIDE, SIDE),
        "mask": _half_mask(),
    }
    with pytest.raises(ValueError, match=r"global output \(per box\) \(1,\), global target \(2,\)"):
        CryoResLoss()(outputs, targets)
    with pytest.raises(ValueError, match="logits"):
        CryoResLoss()(
            {**outputs, "mask": torch.zeros(1, 1, SIDE, SIDE, SIDE)}, {**targets, "global": torch.tensor([3.0])}
        )


def test_per_head_config_terms_sum_to_the_cryores_loss() -> None:
    """Training sums one loss per head: mse, λ · log_abs_error and ce give L_global + λ·L_rel + L_mask."""
    torch.manual_seed(0)
    model = CryoResModel(**TINY["cryores"].network_kwargs())
    x = box(batch=2)
    outputs = model(x)
    mask = (x > 0.5).long()[:, 0]  # (B, D, H, W) class indices, as the store's molecule_mask
    relative = torch.randn(2, 1, 16, 16, 16) * mask[:, None]  # 0 outside the mask, as ingest writes it
    global_ = torch.tensor([3.0, 6.0])
    per_voxel_global = global_[:, None, None, None, None].expand(2, 1, 16, 16, 16)
    losses = {
        "global": build_loss(LossConfig(terms=[{"kind": "mse"}])),
        "relative": build_loss(LossConfig(terms=[{"kind": "log_abs_error", "weight": 0.5}])),
        "mask": build_loss(LossConfig(terms=[{"kind": "ce"}])),
    }
    targets = {"global": per_voxel_global, "relative": relative, "mask": mask}
    summed = sum(losses[head](outputs[head], targets[head]).total for head in losses)
    expected = CryoResLoss(rel_weight=0.5, relative_inside_mask=False)(
        outputs, {"global": global_, "relative": relative, "mask": mask}
    )
    assert summed.item() == pytest.approx(expected.total.item(), rel=1e-5)
