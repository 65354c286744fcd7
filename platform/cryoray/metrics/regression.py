"""Map-to-map scores for predicted density: Pearson correlation (PCC) and 3D SSIM.

PCC is what CryoTEN reports as CC_box (whole box) and CC_mask (inside a mask); struc2mapGAN
reports SSIM and PCC. Over a validation set, :class:`PearsonAccumulator` gives the PCC of all
voxels together, not the mean of per-batch PCCs.
"""

from __future__ import annotations

import torch
from monai.metrics import SSIMMetric

__all__ = ["PearsonAccumulator", "check_same_shape", "pearson", "ssim3d"]

#: A variance below this fraction of the second moment is rounding noise: the values are constant.
_CONSTANT_RTOL = 1e-12


def check_same_shape(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str] = ("input", "target")) -> None:
    """Raise unless ``a`` and ``b`` have the same shape.

    Args:
        a: first tensor.
        b: second tensor.
        names: what to call the two in the message.

    Raises:
        ValueError: the shapes differ (the message shows both).
    """
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {names[0]} {tuple(a.shape)}, {names[1]} {tuple(b.shape)}")


class PearsonAccumulator:
    """Pearson correlation over all voxels of many batches (and, summed, of many workers).

    ``sums`` is one float64 tensor ``[n, Σx, Σy, Σx², Σy², Σxy]`` on the device of the data, so a
    data-parallel loop can add the ranks' sums with ``torch.distributed.all_reduce(acc.sums)``.

    Example:
        >>> acc = PearsonAccumulator()
        >>> acc.update(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 4.0]))
        >>> acc.update(torch.tensor([3.0]), torch.tensor([6.5]))
        >>> round(acc.compute(), 4)
        0.9979
    """

    def __init__(self) -> None:
        self.sums = torch.zeros(6, dtype=torch.float64)

    def update(self, a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Add the voxels of one batch (those where ``mask`` is true, if given).

        Args:
            a: predicted values, any shape.
            b: reference values, the shape of ``a``.
            mask: boolean tensor of the shape of ``a``, or None for every voxel.

        Raises:
            ValueError: the shapes differ.
            TypeError: ``mask`` is not boolean.
        """
        check_same_shape(a, b, ("a", "b"))
        if mask is not None:
            check_same_shape(a, mask, ("a", "mask"))
            if mask.dtype != torch.bool:
                raise TypeError(f"mask must be a boolean tensor, got dtype {mask.dtype}")
            a, b = a[mask], b[mask]
        x = a.detach().double().reshape(-1)
        y = b.detach().double().reshape(-1)
        n = torch.tensor(float(x.numel()), dtype=torch.float64, device=x.device)
        batch = torch.stack([n, x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum()])
        self.sums = self.sums.to(x.device) + batch

    def merge(self, other: PearsonAccumulator) -> None:
        """Add the sums of ``other`` (e.g. another worker's) to these."""
        self.sums = self.sums + other.sums.to(self.sums.device)

    def compute(self) -> float:
        """The PCC of every voxel added so far.

        It is defined as 0 when there are no voxels or either side is constant (0/0).
        """
        n, sx, sy, sxx, syy, sxy = self.sums.tolist()
        if n == 0:
            return 0.0
        var_x = sxx - sx * sx / n
        var_y = syy - sy * sy / n
        if var_x <= _CONSTANT_RTOL * sxx or var_y <= _CONSTANT_RTOL * syy:
            return 0.0
        r = (sxy - sx * sy / n) / (var_x * var_y) ** 0.5
        return min(1.0, max(-1.0, r))


def pearson(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Pearson correlation of ``a`` and ``b`` over all voxels (or those where ``mask`` is true).

    Over the whole box this is CC_box; with a molecular mask, CC_mask. It is 0 when there are
    no voxels or either side is constant.

    Args:
        a: predicted values, any shape.
        b: reference values, the shape of ``a``.
        mask: boolean tensor of the shape of ``a``, or None for every voxel.

    Raises:
        ValueError: the shapes differ.
        TypeError: ``mask`` is not boolean.
    """
    acc = PearsonAccumulator()
    acc.update(a, b, mask)
    return acc.compute()


def ssim3d(a: torch.Tensor, b: torch.Tensor, data_range: float) -> float:
    """Mean 3D SSIM (MONAI's Gaussian-window SSIM, 11³ window) of ``a`` against ``b``.

    Args:
        a: predicted volumes ``(B, C, D, H, W)`` or one volume ``(D, H, W)``; every spatial size
            at least 11.
        b: reference volumes, the shape of ``a``.
        data_range: the range the values span (1.0 for maps normalised to [0, 1]).

    Raises:
        ValueError: the shapes differ, are neither 3-D nor 5-D, or ``data_range`` is not positive.
    """
    check_same_shape(a, b, ("a", "b"))
    if a.ndim not in (3, 5):
        raise ValueError(f"expected (B, C, D, H, W) or (D, H, W) volumes, got shape {tuple(a.shape)}")
    if not data_range > 0:
        raise ValueError(f"`data_range` must be positive, got {data_range}")
    if a.ndim == 3:
        a, b = a[None, None], b[None, None]
    metric = SSIMMetric(spatial_dims=3, data_range=data_range)
    return float(metric(a.detach().float(), b.detach().float()).mean())
