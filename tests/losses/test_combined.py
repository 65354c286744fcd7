"""Loss configs and the weighted sums built from them: totals, per-term values, config errors."""

from __future__ import annotations

import pytest
import torch
from monai.losses import SSIMLoss

from cryoray.config import Section, validate_config
from cryoray.errors import ConfigError
from cryoray.losses import (
    CombinedLoss,
    LossConfig,
    MaskedMSELoss,
    WeightedCrossEntropyLoss,
    build_loss,
    class_weights,
)


class Holder(Section):
    loss: LossConfig


def _maps(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    target = torch.rand(2, 1, 12, 12, 12, generator=gen) * (torch.rand(2, 1, 12, 12, 12, generator=gen) > 0.3)
    pred = (target + 0.1 * torch.randn(2, 1, 12, 12, 12, generator=gen)).clamp_min(0)
    return pred, target


def test_regression_sum_equals_weighted_terms_and_reports_each() -> None:
    config = LossConfig(
        terms=[
            {"kind": "masked_mse"},
            {"kind": "ssim", "weight": 0.1, "data_range": 2.0},
            {"kind": "smooth_l1", "weight": 0.5, "beta": 0.05},
        ]
    )
    pred, target = _maps()
    pred.requires_grad_(True)
    out = build_loss(config)(pred, target)
    expected = {
        "masked_mse": MaskedMSELoss()(pred, target),
        "ssim": SSIMLoss(spatial_dims=3, data_range=2.0)(pred, target),
        "smooth_l1": torch.nn.functional.smooth_l1_loss(pred, target, beta=0.05),
    }
    assert list(out.terms) == ["masked_mse", "ssim", "smooth_l1"]
    for name, value in expected.items():
        assert out.terms[name].item() == pytest.approx(value.item(), rel=1e-6)
        assert not out.terms[name].requires_grad
    total = expected["masked_mse"] + 0.1 * expected["ssim"] + 0.5 * expected["smooth_l1"]
    assert out.total.item() == pytest.approx(total.item(), rel=1e-6)
    out.total.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_zero_weight_term_is_logged_but_not_summed() -> None:
    pred, target = _maps(1)
    out = build_loss(LossConfig(terms=[{"kind": "mse"}, {"kind": "ssim", "weight": 0}]))(pred, target)
    assert out.terms["ssim"].item() > 0
    assert out.total.item() == pytest.approx(out.terms["mse"].item())


def test_classification_sum_with_channel_axis_on_target() -> None:
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 4, 4, 4, 4, generator=gen)
    labels = torch.randint(0, 4, (2, 1, 4, 4, 4), generator=gen)
    counts = [900, 40, 30, 30]
    out = build_loss(LossConfig(terms=[{"kind": "weighted_ce"}, {"kind": "ce", "weight": 0.5}]), counts)(logits, labels)
    weighted = WeightedCrossEntropyLoss(class_weights(counts))(logits, labels)
    plain = torch.nn.functional.cross_entropy(logits, labels[:, 0])
    assert out.terms["weighted_ce"].item() == pytest.approx(weighted.item(), rel=1e-6)
    assert out.terms["ce"].item() == pytest.approx(plain.item(), rel=1e-6)
    assert out.total.item() == pytest.approx(weighted.item() + 0.5 * plain.item(), rel=1e-6)


def test_weighted_ce_needs_class_counts() -> None:
    with pytest.raises(ValueError, match=r"weighted_ce.*class_counts"):
        build_loss(LossConfig(terms=[{"kind": "weighted_ce"}]))


def test_classification_and_regression_terms_do_not_mix() -> None:
    with pytest.raises(ValueError, match=r"classification terms \['ce'\] and regression terms \['mse', 'ssim'\]"):
        LossConfig(terms=[{"kind": "mse"}, {"kind": "ce"}, {"kind": "ssim"}])


def test_regression_shape_mismatch_names_both_shapes() -> None:
    loss = build_loss(LossConfig(terms=[{"kind": "mse"}]))
    with pytest.raises(ValueError, match=r"input \(1, 1, 4, 4, 4\), target \(1, 4, 4, 4\)"):
        loss(torch.zeros(1, 1, 4, 4, 4), torch.zeros(1, 4, 4, 4))


@pytest.mark.parametrize(
    "loss,key",
    [
        ({"terms": [{"kind": "mse"}, {"kind": "dice"}]}, "loss.terms.1.kind"),
        ({"terms": []}, "loss.terms"),
        (
            {"terms": [{"kind": "ssim", "beta": 0.5}]},
            "loss.terms.0: Value error, beta applies only to kind 'smooth_l1'",
        ),
        ({"terms": [{"kind": "ssim", "data_range": 0}]}, "loss.terms.0.data_range"),
        ({"terms": [{"kind": "mse", "weight": -1}]}, "loss.terms.0.weight"),
        ({"terms": [{"kind": "mse", "wieght": 2}]}, "loss.terms.0.wieght"),
        ({"terms": [{"kind": "mse"}, {"kind": "mse", "weight": 2}]}, "loss: Value error, each kind may appear once"),
        ({"terms": [{"kind": "ce"}, {"kind": "mse"}]}, "loss: Value error, classification terms"),
    ],
    ids=[
        "unknown-kind",
        "no-terms",
        "beta-on-ssim",
        "zero-data-range",
        "negative-weight",
        "typo-key",
        "repeat",
        "mixed",
    ],
)
def test_config_errors_name_the_key(loss, key) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(Holder, {"loss": loss}, source="run.yaml")
    assert str(info.value).startswith(f"run.yaml: {key}")


def test_config_round_trips_through_plain_data() -> None:
    config = LossConfig(terms=[{"kind": "smooth_l1", "beta": 0.2}, {"kind": "ssim", "weight": 0.3}])
    assert validate_config(LossConfig, config.model_dump(), source="dump") == config
    assert config.task == "regression"


@pytest.mark.parametrize(
    "terms,task,match",
    [
        ([], "regression", "at least one term"),
        ([("mse", 1.0, torch.nn.MSELoss()), ("mse", 1.0, torch.nn.MSELoss())], "regression", "unique names"),
        ([("mse", -1.0, torch.nn.MSELoss())], "regression", "must not be negative"),
        ([("mse", 1.0, torch.nn.MSELoss())], "segmentation", "`task`"),
    ],
    ids=["empty", "repeated-name", "negative-weight", "unknown-task"],
)
def test_combined_loss_ill_args(terms, task, match) -> None:
    with pytest.raises(ValueError, match=match):
        CombinedLoss(terms, task=task)
