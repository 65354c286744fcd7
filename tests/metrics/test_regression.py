"""Pearson correlation (single and accumulated over batches) and 3D SSIM, against numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cryoray.metrics import PearsonAccumulator, pearson, ssim3d


def _pair(seed: int, shape=(3, 1, 8, 8, 8), noise: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    b = torch.rand(shape, generator=gen)
    return b + noise * torch.randn(shape, generator=gen), b


def test_pearson_matches_numpy_corrcoef() -> None:
    a, b = _pair(0)
    expected = np.corrcoef(a.double().numpy().ravel(), b.double().numpy().ravel())[0, 1]
    assert 0.2 < expected < 0.9
    assert pearson(a, b) == pytest.approx(expected, abs=1e-10)
    assert pearson(-a, b) == pytest.approx(-expected, abs=1e-10)
    assert pearson(b, 2 * b + 1) == pytest.approx(1.0, abs=1e-12)


def test_pearson_with_mask_uses_only_masked_voxels() -> None:
    a, b = _pair(1)
    mask = b > 0.5
    expected = np.corrcoef(a[mask].double().numpy(), b[mask].double().numpy())[0, 1]
    assert pearson(a, b, mask) == pytest.approx(expected, abs=1e-10)
    assert pearson(a, b, mask) != pytest.approx(pearson(a, b), abs=1e-3)


def test_pearson_stays_accurate_far_from_zero() -> None:
    a, b = _pair(2)
    expected = np.corrcoef(a.double().numpy().ravel(), b.double().numpy().ravel())[0, 1]
    assert pearson(a.double() + 1e3, b.double() - 1e3) == pytest.approx(expected, abs=1e-8)


def test_undefined_correlation_is_zero() -> None:
    a, b = _pair(3)
    assert pearson(torch.full_like(b, 0.3), b) == 0.0
    assert pearson(a, torch.zeros_like(b)) == 0.0
    assert pearson(a, b, torch.zeros_like(b, dtype=torch.bool)) == 0.0


def test_accumulated_pcc_over_batches_is_pcc_of_the_whole() -> None:
    a, b = _pair(4, shape=(4, 1, 6, 6, 6))
    a = a + torch.arange(4.0).reshape(4, 1, 1, 1, 1)  # batches far apart: per-batch PCCs differ from the whole
    b = b + torch.arange(4.0).reshape(4, 1, 1, 1, 1)
    acc = PearsonAccumulator()
    for i in range(4):
        acc.update(a[i : i + 1], b[i : i + 1])
    whole = pearson(a, b)
    assert acc.compute() == pytest.approx(whole, abs=1e-12)
    mean_of_batches = np.mean([pearson(a[i], b[i]) for i in range(4)])
    assert abs(mean_of_batches - whole) > 0.05


def test_accumulators_merge_like_all_reduce() -> None:
    a, b = _pair(5)
    mask = b > 0.2
    left, right = PearsonAccumulator(), PearsonAccumulator()
    left.update(a[:2], b[:2], mask[:2])
    right.update(a[2:], b[2:], mask[2:])
    summed = PearsonAccumulator()
    summed.sums = left.sums + right.sums  # what all_reduce(SUM) of two ranks leaves on each
    left.merge(right)
    assert left.compute() == pytest.approx(pearson(a, b, mask), abs=1e-12)
    assert summed.compute() == left.compute()
    assert left.sums[0].item() == mask.sum().item()


def test_pearson_bad_arguments() -> None:
    a, b = _pair(6)
    with pytest.raises(ValueError, match=r"a \(3, 1, 8, 8, 8\), b \(3, 8, 8, 8\)"):
        pearson(a, b[:, 0])
    with pytest.raises(ValueError, match=r"mask \(8, 8, 8\)"):
        pearson(a, b, torch.ones(8, 8, 8, dtype=torch.bool))
    with pytest.raises(TypeError, match="boolean"):
        pearson(a, b, torch.ones_like(b))


def test_ssim_is_one_for_identical_volumes_and_falls_with_noise() -> None:
    _, clean = _pair(7, shape=(2, 1, 16, 16, 16))
    gen = torch.Generator().manual_seed(8)
    noise = torch.randn(clean.shape, generator=gen)
    same = ssim3d(clean, clean, data_range=1.0)
    slightly = ssim3d(clean + 0.05 * noise, clean, data_range=1.0)
    very = ssim3d(clean + 0.5 * noise, clean, data_range=1.0)
    assert same == pytest.approx(1.0, abs=1e-5)
    assert 1.0 > slightly > very
    assert ssim3d(clean[0, 0], clean[0, 0] + 0.05 * noise[0, 0], 1.0) < 1.0  # one (D, H, W) volume


def test_ssim_bad_arguments() -> None:
    volume = torch.rand(16, 16, 16)
    with pytest.raises(ValueError, match="data_range"):
        ssim3d(volume, volume, data_range=0)
    with pytest.raises(ValueError, match=r"got shape \(1, 16, 16, 16\)"):
        ssim3d(volume[None], volume[None], data_range=1.0)
    with pytest.raises(ValueError, match="shapes differ"):
        ssim3d(volume, volume[:15], data_range=1.0)
