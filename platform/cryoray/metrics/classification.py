"""Voxel classification scores: a confusion matrix that accumulates over batches and ranks.

Atom labels use Cα=1, N=2, C=3 and background 0 (see :mod:`cryoray.labels`), so for the atom
model ``class_names=("background", "CA", "N", "C")`` and the Cα scores are those of class 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["ConfusionCounts", "class_targets"]


def class_targets(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Check integer labels against logits and return them as ``(B, *spatial)`` int64.

    Args:
        logits: scores ``(B, C, *spatial)``, e.g. ``(B, C, D, H, W)``.
        target: class indices ``(B, *spatial)`` or ``(B, 1, *spatial)``.

    Raises:
        TypeError: ``target`` is not an integer tensor.
        ValueError: the shapes do not pair up (the message shows both).
    """
    if target.dtype.is_floating_point or target.dtype.is_complex or target.dtype == torch.bool:
        raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
    if target.ndim == logits.ndim and target.ndim > 1 and target.shape[1] == 1:
        target = target.squeeze(1)
    if logits.ndim < 2 or target.shape != logits.shape[:1] + logits.shape[2:]:
        raise ValueError(
            f"logits (B, C, *spatial) and target (B, *spatial) or (B, 1, *spatial) do not match: "
            f"logits {tuple(logits.shape)}, target {tuple(target.shape)}"
        )
    return target.long()


class ConfusionCounts:
    """A ``C × C`` confusion matrix (rows: true class, columns: predicted class) over batches.

    The counts live on the device of the tensors given to :meth:`update`, as one int64 tensor,
    so a data-parallel loop can sum it over ranks with
    ``torch.distributed.all_reduce(confusion.counts)`` before calling :meth:`summary`.

    Args:
        num_classes: number of classes ``C`` (at least 2).

    Raises:
        ValueError: ``num_classes`` is below 2.

    Example:
        >>> confusion = ConfusionCounts(2)
        >>> confusion.update(torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]]), torch.tensor([0, 1, 1]))
        >>> confusion.counts.tolist()
        [[1, 0], [1, 1]]
    """

    def __init__(self, num_classes: int) -> None:
        if num_classes < 2:
            raise ValueError(f"`num_classes` must be at least 2, got {num_classes}")
        self.num_classes = num_classes
        self.counts = torch.zeros((num_classes, num_classes), dtype=torch.int64)

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch: the prediction of each voxel is the argmax over the class axis.

        Args:
            logits: scores ``(B, C, *spatial)``.
            target: class indices ``(B, *spatial)`` or ``(B, 1, *spatial)``.

        Raises:
            TypeError: ``target`` is not an integer tensor.
            ValueError: shapes do not pair up, ``C`` differs from ``num_classes``, or a label
                lies outside ``0 .. C-1``.
        """
        target = class_targets(logits, target)
        if logits.shape[1] != self.num_classes:
            raise ValueError(f"logits have {logits.shape[1]} classes, the confusion matrix {self.num_classes}")
        c = self.num_classes
        if target.numel():
            low, high = torch.aminmax(target)
            if low < 0 or high >= c:
                raise ValueError(f"target holds labels outside 0..{c - 1}")
        flat = (target * c + logits.argmax(dim=1)).reshape(-1)
        self.counts = self.counts.to(logits.device) + torch.bincount(flat, minlength=c * c).reshape(c, c)

    def merge(self, other: ConfusionCounts) -> None:
        """Add the counts of ``other`` (e.g. another worker's) to these.

        Raises:
            ValueError: the two have different numbers of classes.
        """
        if other.num_classes != self.num_classes:
            raise ValueError(f"cannot merge {other.num_classes}-class counts into {self.num_classes}-class counts")
        self.counts = self.counts + other.counts.to(self.counts.device)

    def summary(self, class_names: Sequence[str]) -> dict[str, float]:
        """Per-class precision, recall and F1, macro F1 (over all classes) and accuracy.

        Keys are ``precision/<name>``, ``recall/<name>``, ``f1/<name>``, ``macro_f1`` and
        ``accuracy``. A ratio whose denominator is 0 (a class never predicted, never present,
        or no voxels at all) is defined as 0.

        Args:
            class_names: one name per class, in class-index order.

        Raises:
            ValueError: the number of names differs from ``num_classes``.
        """
        if len(class_names) != self.num_classes:
            raise ValueError(f"{len(class_names)} class names given for {self.num_classes} classes")
        counts = self.counts.double().cpu()
        true_pos = counts.diagonal()
        precision = _ratio(true_pos, counts.sum(dim=0))
        recall = _ratio(true_pos, counts.sum(dim=1))
        f1 = _ratio(2 * precision * recall, precision + recall)
        scores: dict[str, float] = {}
        for i, name in enumerate(class_names):
            scores[f"precision/{name}"] = float(precision[i])
            scores[f"recall/{name}"] = float(recall[i])
            scores[f"f1/{name}"] = float(f1[i])
        scores["macro_f1"] = float(f1.mean())
        scores["accuracy"] = float(_ratio(true_pos.sum(), counts.sum()))
        return scores


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator`` with 0 where the denominator is 0."""
    return torch.where(denominator > 0, numerator / denominator.clamp_min(1e-300), torch.zeros_like(numerator))
