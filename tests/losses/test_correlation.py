"""The correlation loss: 1 − Pearson cc per box, blind to scale, boxes without a target signal left out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cryoray.losses import CorrelationLoss, LossConfig, build_loss


def test_correlation_loss_is_one_minus_numpys_cc_averaged_over_boxes() -> None:
    rng = np.random.default_rng(0)
    target = rng.random((3, 1, 6, 6, 6))
    pred = 0.5 * target + rng.random(target.shape)  # partly correlated
    pred[1] = -2.0 * target[1] + 7.0  # anti-correlated whatever its scale
    expected = np.mean([1 - np.corrcoef(p.ravel(), t.ravel())[0, 1] for p, t in zip(pred, target, strict=True)])
    loss = CorrelationLoss()(torch.tensor(pred), torch.tensor(target))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert 1.0 < loss.item() < 2.0  # the anti-correlated box counts 2


def test_correlation_ignores_scale_and_boxes_without_target_signal() -> None:
    rng = np.random.default_rng(1)
    target = torch.tensor(rng.random((2, 1, 5, 5, 5)), dtype=torch.float32)
    target[1] = 0.0  # no atom near: constant target, no correlation
    pred = (4.0 * target + 0.3).requires_grad_()
    loss = CorrelationLoss()(pred, target)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    empty = torch.zeros_like(target)
    out = CorrelationLoss()(pred, empty)
    assert out.item() == 0.0
    out.backward()  # still part of the graph
    assert pred.grad is not None and torch.all(pred.grad == 0)


def test_correlation_term_builds_from_config_and_learns_toward_the_target() -> None:
    loss = build_loss(LossConfig.model_validate({"terms": [{"kind": "correlation"}, {"kind": "ssim", "weight": 0.1}]}))
    target = torch.rand(2, 1, 12, 12, 12)
    noisy = (target + torch.rand_like(target)).requires_grad_()
    before = loss(noisy, target)
    assert set(before.terms) == {"correlation", "ssim"}
    before.total.backward()
    step = noisy - 5.0 * noisy.grad  # one gradient step raises the correlation
    assert loss(step, target).terms["correlation"] < before.terms["correlation"]
