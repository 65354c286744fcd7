"""The Cα builder's losses: heatmap MSE weighting and cross-entropy over labelled voxels only."""

from __future__ import annotations

import pytest
import torch

from cryoray.config import validate_config
from cryoray.errors import ConfigError
from cryoray.losses import build_loss
from cryoray.losses.config import LossConfig
from cryoray.losses.heatmap_mse import HeatmapMSELoss
from cryoray.losses.labelled_ce import LabelledCrossEntropyLoss


def test_heatmap_mse_weights_voxels_by_their_target() -> None:
    target = torch.tensor([0.0, 0.0, 1.0, 0.5])
    pred = torch.zeros(4)
    # (0 + 0 + (1 + 5)·1 + (1 + 2.5)·0.25) / 4
    assert HeatmapMSELoss(5.0)(pred, target).item() == pytest.approx((6 + 3.5 * 0.25) / 4)
    assert HeatmapMSELoss(0.0)(pred, target).item() == pytest.approx(torch.nn.functional.mse_loss(pred, target).item())
    # missing a peak costs more than a false positive of the same size
    assert HeatmapMSELoss()(torch.tensor([0.0]), torch.tensor([1.0])) > HeatmapMSELoss()(
        torch.tensor([1.0]), torch.tensor([0.0])
    )
    with pytest.raises(ValueError, match="peak_weight"):
        HeatmapMSELoss(-1.0)


def test_labelled_ce_ignores_the_unlabelled_class_and_survives_empty_batches() -> None:
    logits = torch.randn(2, 21, 4, 4, 4, requires_grad=True)
    target = torch.zeros(2, 4, 4, 4, dtype=torch.int64)
    target[0, 1, 2, 3] = 7
    target[1, 0, 0, 0] = 20
    loss = LabelledCrossEntropyLoss(0)(logits, target)
    expected = torch.nn.functional.cross_entropy(
        torch.stack([logits[0, :, 1, 2, 3], logits[1, :, 0, 0, 0]]), torch.tensor([7, 20])
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    empty = LabelledCrossEntropyLoss(0)(logits, torch.zeros_like(target))
    empty.backward()
    assert empty.item() == 0.0 and torch.isfinite(logits.grad).all() and not logits.grad.any()


def test_config_kinds_and_their_settings() -> None:
    loss = build_loss(
        validate_config(LossConfig, {"terms": [{"kind": "heatmap_mse", "peak_weight": 2.0}]}, source="cfg")
    )
    assert loss.task == "regression" and loss.terms["heatmap_mse"].peak_weight == 2.0
    ce = build_loss(validate_config(LossConfig, {"terms": [{"kind": "labelled_ce"}]}, source="cfg"))
    assert ce.task == "classification" and ce.terms["labelled_ce"].ignore_index == 0
    with pytest.raises(ConfigError, match="peak_weight applies only to kind 'heatmap_mse'"):
        validate_config(LossConfig, {"terms": [{"kind": "mse", "peak_weight": 2.0}]}, source="cfg")
    with pytest.raises(ConfigError, match="ignore_index applies only"):
        validate_config(LossConfig, {"terms": [{"kind": "ce", "ignore_index": 0}]}, source="cfg")
