"""CryoTEN's masked MSE: voxels where prediction and target are both zero are left out exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cryoray.losses import MaskedMSELoss


def test_both_zero_voxels_are_excluded() -> None:
    pred = torch.tensor([0.0, 0.0, 1.0, 2.0, 0.0])
    target = torch.tensor([0.0, 3.0, 1.0, 0.0, 0.0])
    # kept: voxels 1, 2, 3 (squared errors 9, 0, 4); voxels 0 and 4 are both zero.
    assert MaskedMSELoss()(pred, target).item() == pytest.approx(13 / 3)
    assert torch.nn.functional.mse_loss(pred, target).item() == pytest.approx(13 / 5)


def test_matches_numpy_on_sparse_volumes_with_gradient() -> None:
    gen = torch.Generator().manual_seed(0)
    pred = torch.rand(2, 1, 6, 6, 6, generator=gen) * (torch.rand(2, 1, 6, 6, 6, generator=gen) > 0.5)
    target = torch.rand(2, 1, 6, 6, 6, generator=gen) * (torch.rand(2, 1, 6, 6, 6, generator=gen) > 0.5)
    pred.requires_grad_(True)
    loss = MaskedMSELoss()(pred, target)
    loss.backward()
    p, t = pred.detach().double().numpy(), target.double().numpy()
    kept = (p != 0) | (t != 0)
    assert 0 < kept.sum() < kept.size  # both kinds of voxel are present
    assert loss.item() == pytest.approx(((p - t)[kept] ** 2).mean(), rel=1e-6)
    np.testing.assert_allclose(pred.grad.numpy(), np.where(kept, 2 * (p - t) / kept.sum(), 0.0), rtol=1e-5, atol=1e-9)


def test_all_excluded_is_zero_and_stays_in_the_graph() -> None:
    pred = torch.zeros(1, 1, 4, 4, 4, requires_grad=True)
    loss = MaskedMSELoss()(pred, torch.zeros(1, 1, 4, 4, 4))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))


def test_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"input \(1, 1, 4, 4, 4\), target \(1, 1, 4, 4, 5\)"):
        MaskedMSELoss()(torch.zeros(1, 1, 4, 4, 4), torch.zeros(1, 1, 4, 4, 5))
