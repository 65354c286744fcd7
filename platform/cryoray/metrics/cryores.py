"""CryoRes's scores of a predicted local-resolution map: RMSE (Å) inside the mask and the mask's mIoU.

As the CryoRes paper reports them (``shared/papers/cryores.txt``, "Evaluation"):

- local resolution: ``RMSE = sqrt(1/N Σ_i (ŷ_i − y_i)²)`` over the ``N`` voxels inside the
  reference mask (where the reference, a half-map estimate, is defined), in Å;
- mask: ``mIoU = 1/N Σ_i |ŷ_i ∩ y_i| / |ŷ_i ∪ y_i|``, the intersection over union of the
  predicted and the reference molecular mask, averaged over the ``N`` maps.

Plain numpy on whole maps (any shape, compared voxel by voxel: put both on one grid first).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["local_resolution_rmse", "mask_iou", "mask_miou"]


def _same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {names[0]} {a.shape}, {names[1]} {b.shape}")


def local_resolution_rmse(predicted: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> float:
    """Root-mean-square difference (Å) of two local-resolution maps over the voxels where ``mask`` is true.

    Args:
        predicted: predicted resolution per voxel, Å.
        reference: reference resolution per voxel (e.g. a half-map estimate), Å, the shape of ``predicted``.
        mask: the voxels to compare (boolean, or values where ≥ 0.5 counts), the same shape.

    Raises:
        ValueError: the shapes differ, or the mask is empty.

    Example:
        >>> local_resolution_rmse(np.array([3.0, 5.0, 9.0]), np.array([4.0, 4.0, 0.0]), np.array([1, 1, 0]))
        1.0
    """
    _same_shape(predicted, reference, ("predicted", "reference"))
    _same_shape(predicted, mask, ("predicted", "mask"))
    inside = np.asarray(mask) >= 0.5
    if not inside.any():
        raise ValueError("the mask is empty: no voxel to compare")
    difference = predicted[inside].astype(np.float64) - reference[inside].astype(np.float64)
    return float(np.sqrt(np.mean(difference**2)))


def mask_iou(predicted: np.ndarray, reference: np.ndarray) -> float:
    """Intersection over union of two masks (boolean, or values where ≥ 0.5 counts).

    Two empty masks agree perfectly: 1.0.

    Raises:
        ValueError: the shapes differ.

    Example:
        >>> mask_iou(np.array([1, 1, 0, 0]), np.array([0, 1, 1, 0]))  # 1 shared of 3
        0.3333333333333333
    """
    _same_shape(predicted, reference, ("predicted", "reference"))
    a, b = np.asarray(predicted) >= 0.5, np.asarray(reference) >= 0.5
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else float(np.count_nonzero(a & b) / union)


def mask_miou(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean of :func:`mask_iou` over ``(predicted, reference)`` mask pairs, one per map.

    Raises:
        ValueError: no pairs, or a pair whose shapes differ.

    Example:
        >>> mask_miou([(np.array([1, 1]), np.array([1, 1])), (np.array([1, 0]), np.array([0, 1]))])
        0.5
    """
    scores = [mask_iou(predicted, reference) for predicted, reference in pairs]
    if not scores:
        raise ValueError("no masks to compare")
    return float(np.mean(scores))
