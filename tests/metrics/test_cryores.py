"""CryoRes's scores on known inputs: RMSE inside the mask only, IoU and its mean over maps."""

from __future__ import annotations

import numpy as np
import pytest

from cryoray.metrics import local_resolution_rmse, mask_iou, mask_miou


def test_rmse_counts_only_the_voxels_inside_the_mask() -> None:
    reference = np.full((4, 4, 4), 4.0, dtype=np.float32)
    predicted = reference.copy()
    predicted[0] += 2.0  # 16 voxels 2 Å off
    predicted[1] -= 1.0  # 16 voxels 1 Å off
    predicted[3] = 100.0  # outside the mask
    mask = np.zeros((4, 4, 4), dtype=bool)
    mask[:3] = True  # 48 voxels: 16 · 4 + 16 · 1 + 16 · 0 = 80
    assert local_resolution_rmse(predicted, reference, mask) == pytest.approx(np.sqrt(80 / 48))
    # a soft mask counts where it is ≥ 0.5
    assert local_resolution_rmse(predicted, reference, mask * 0.5) == pytest.approx(np.sqrt(80 / 48))
    assert local_resolution_rmse(reference, reference, mask) == 0.0


def test_rmse_refuses_an_empty_mask_and_other_shapes() -> None:
    values = np.ones((2, 2, 2))
    with pytest.raises(ValueError, match="empty"):
        local_resolution_rmse(values, values, np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"predicted \(2, 2, 2\), mask \(2, 2\)"):
        local_resolution_rmse(values, values, np.ones((2, 2)))


def test_iou_of_known_masks() -> None:
    a = np.zeros((4, 4, 4), dtype=bool)
    b = np.zeros((4, 4, 4), dtype=bool)
    a[:2] = True  # 32 voxels
    b[1:3] = True  # 32 voxels, 16 shared
    assert mask_iou(a, b) == pytest.approx(16 / 48)
    assert mask_iou(a, a) == 1.0
    assert mask_iou(a, ~a) == 0.0
    assert mask_iou(np.zeros(3), np.zeros(3)) == 1.0  # both empty: they agree
    assert mask_iou(a.astype(np.float32) * 0.7, b) == pytest.approx(16 / 48)  # probabilities at 0.5


def test_miou_averages_over_maps() -> None:
    a = np.array([1, 1, 0, 0])
    assert mask_miou([(a, a), (a, 1 - a), (a, np.array([1, 0, 0, 0]))]) == pytest.approx((1 + 0 + 0.5) / 3)
    assert mask_miou(iter([(a, a)])) == 1.0
    with pytest.raises(ValueError, match="no masks"):
        mask_miou([])
