"""Cryo2Struct's class weights and the weighted cross-entropy, against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cryoray.losses import WeightedCrossEntropyLoss, class_weights

LN3 = math.log(3.0)


def _two_class_example() -> tuple[torch.Tensor, torch.Tensor]:
    """Four voxels (B=1, C=2, D=1, H=1, W=4) whose softmax probabilities are 3/4, 1/4, 1/2, 3/4."""
    logits = torch.tensor([[LN3, LN3, 0.0, 0.0], [0.0, 0.0, 0.0, LN3]]).reshape(1, 2, 1, 1, 4)
    labels = torch.tensor([0, 1, 0, 1]).reshape(1, 1, 1, 4)
    return logits, labels


def test_class_weights_follow_cryo2struct_formula() -> None:
    assert class_weights([3, 1]).tolist() == [0.25, 0.75]
    counts = np.array([970, 10, 10, 10])
    np.testing.assert_allclose(class_weights(counts.tolist()).numpy(), 1 - counts / counts.sum(), rtol=1e-6)


def test_absent_class_gets_weight_one_and_sole_class_zero() -> None:
    assert class_weights([5, 0, 5]).tolist() == [0.5, 1.0, 0.5]
    assert class_weights([7, 0]).tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    "counts", [[4], [[1, 2], [3, 4]], [3, -1], [0, 0]], ids=["one-class", "2d", "negative", "all-zero"]
)
def test_class_weights_rejects_bad_counts(counts) -> None:
    with pytest.raises(ValueError, match="class counts"):
        class_weights(counts)


def test_two_class_loss_matches_hand_computation() -> None:
    logits, labels = _two_class_example()
    loss = WeightedCrossEntropyLoss(class_weights([3, 1]))(logits, labels)
    # nll per voxel: ln(4/3), ln 4, ln 2, ln(4/3); weights by true class 0.25, 0.75, 0.25, 0.75 (sum 2).
    by_hand = (0.25 * math.log(4 / 3) + 0.75 * math.log(4) + 0.25 * math.log(2) + 0.75 * math.log(4 / 3)) / 2
    z = logits.reshape(2, 4).T.double().numpy()
    nll = -(z - np.log(np.exp(z).sum(axis=1, keepdims=True)))[np.arange(4), labels.reshape(-1).numpy()]
    w = np.array([0.25, 0.75])[labels.reshape(-1).numpy()]
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)
    assert loss.item() == pytest.approx((w * nll).sum() / w.sum(), rel=1e-6)
    assert loss.item() != pytest.approx(nll.mean(), rel=1e-3)  # the weights change the answer


def test_channel_axis_on_target_is_optional_and_gradient_flows() -> None:
    logits, labels = _two_class_example()
    logits.requires_grad_(True)
    loss_fn = WeightedCrossEntropyLoss([0.25, 0.75])
    plain = loss_fn(logits, labels)
    with_channel = loss_fn(logits, labels[:, None])
    assert plain.item() == pytest.approx(with_channel.item())
    plain.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"logits \(2, 4, 8, 8, 8\), target \(2, 8, 8, 7\)"):
        WeightedCrossEntropyLoss([1, 1, 1, 1])(torch.zeros(2, 4, 8, 8, 8), torch.zeros(2, 8, 8, 7, dtype=torch.long))


def test_number_of_weights_must_match_classes() -> None:
    with pytest.raises(ValueError, match="3 classes, but there are 4 weights"):
        WeightedCrossEntropyLoss([1, 1, 1, 1])(torch.zeros(1, 3, 2, 2, 2), torch.zeros(1, 2, 2, 2, dtype=torch.long))


def test_float_targets_are_refused() -> None:
    with pytest.raises(TypeError, match="integer class indices"):
        WeightedCrossEntropyLoss([1, 1])(torch.zeros(1, 2, 2, 2, 2), torch.zeros(1, 2, 2, 2))


@pytest.mark.parametrize(
    "weights", [[1.0], [1.0, -0.5], [0.0, 0.0], [1.0, float("nan")]], ids=["one", "negative", "zeros", "nan"]
)
def test_ill_weights(weights) -> None:
    with pytest.raises(ValueError, match="`weights`"):
        WeightedCrossEntropyLoss(weights)
