"""Confusion counts and the scores derived from them, on a hand-made confusion matrix."""

from __future__ import annotations

import pytest
import torch

from cryoray.metrics import ConfusionCounts

ATOMS = ("background", "CA", "N", "C")

#: rows: true class, columns: predicted class
KNOWN = [[5, 1, 0], [2, 3, 1], [0, 0, 4]]


def _voxels(matrix: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels and predictions that produce ``matrix``, as (N,) tensors."""
    true, pred = [], []
    for t, row in enumerate(matrix):
        for p, count in enumerate(row):
            true += [t] * count
            pred += [p] * count
    return torch.tensor(true), torch.tensor(pred)


def _logits(pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N,) predicted classes -> (N, C) logits whose argmax is the prediction."""
    return torch.nn.functional.one_hot(pred, num_classes).float() * 3 - 1


def test_known_confusion_matrix_scores() -> None:
    true, pred = _voxels(KNOWN)
    confusion = ConfusionCounts(3)
    confusion.update(_logits(pred, 3), true)
    assert confusion.counts.tolist() == KNOWN
    scores = confusion.summary(["a", "b", "c"])
    # column sums 7, 4, 5; row sums 6, 6, 4; diagonal 5, 3, 4
    assert scores["precision/a"] == pytest.approx(5 / 7)
    assert scores["recall/a"] == pytest.approx(5 / 6)
    assert scores["f1/a"] == pytest.approx(10 / 13)
    assert scores["precision/b"] == pytest.approx(3 / 4)
    assert scores["recall/b"] == pytest.approx(1 / 2)
    assert scores["f1/b"] == pytest.approx(0.6)
    assert scores["precision/c"] == pytest.approx(4 / 5)
    assert scores["recall/c"] == pytest.approx(1.0)
    assert scores["f1/c"] == pytest.approx(8 / 9)
    assert scores["macro_f1"] == pytest.approx((10 / 13 + 0.6 + 8 / 9) / 3)
    assert scores["accuracy"] == pytest.approx(12 / 16)
    assert len(scores) == 3 * 3 + 2


def test_volume_batches_accumulate_and_merge_like_one_pass() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 4, 5, 5, 5, generator=gen)
    labels = torch.randint(0, 4, (4, 1, 5, 5, 5), generator=gen)
    whole = ConfusionCounts(4)
    whole.update(logits, labels)
    first, second = ConfusionCounts(4), ConfusionCounts(4)
    first.update(logits[:1], labels[:1])
    first.update(logits[1:2], labels[1:2, 0])  # the channel axis on the labels is optional
    second.update(logits[2:], labels[2:])
    first.merge(second)
    assert torch.equal(first.counts, whole.counts)
    assert int(whole.counts.sum()) == labels.numel()
    truth = torch.stack([(labels[:, 0] == t) & (logits.argmax(1) == p) for t in range(4) for p in range(4)])
    assert whole.counts.reshape(-1).tolist() == truth.sum(dim=(1, 2, 3, 4)).tolist()
    assert whole.summary(ATOMS) == first.summary(ATOMS)


def test_counts_tensor_can_be_reduced_in_place() -> None:
    """A DDP loop all_reduces ``counts`` in place; the summary must read the reduced tensor."""
    true, pred = _voxels(KNOWN)
    confusion = ConfusionCounts(3)
    confusion.update(_logits(pred, 3), true)
    assert confusion.counts.dtype == torch.int64
    confusion.counts += confusion.counts  # what all_reduce(SUM) over two identical ranks does
    assert confusion.summary("abc")["accuracy"] == pytest.approx(0.75)
    assert int(confusion.counts.sum()) == 32


def test_zero_over_zero_is_zero() -> None:
    # Class 2 (N) never occurs and is never predicted; class 3 (C) is predicted but never true.
    true, pred = _voxels([[3, 0, 0, 1], [1, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    confusion = ConfusionCounts(4)
    confusion.update(_logits(pred, 4), true)
    scores = confusion.summary(ATOMS)
    assert scores["precision/N"] == scores["recall/N"] == scores["f1/N"] == 0.0
    assert scores["precision/C"] == scores["recall/C"] == scores["f1/C"] == 0.0
    assert scores["f1/CA"] == pytest.approx(0.8)  # Cα is class 1: precision 2/2, recall 2/3
    assert all(value == 0.0 for value in ConfusionCounts(4).summary(ATOMS).values())


@pytest.mark.parametrize(
    "logits,labels,error,match",
    [
        (torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long), ValueError, "logits have 3 classes"),
        (torch.zeros(2, 4, 4), torch.zeros(2, 5, dtype=torch.long), ValueError, r"logits \(2, 4, 4\), target \(2, 5\)"),
        (torch.zeros(2, 4, 4), torch.full((2, 4), 4), ValueError, "outside 0..3"),
        (torch.zeros(2, 4, 4), torch.full((2, 4), -1), ValueError, "outside 0..3"),
        (torch.zeros(2, 4, 4), torch.zeros(2, 4), TypeError, "integer class indices"),
    ],
    ids=["wrong-classes", "shape", "label-too-high", "label-negative", "float-labels"],
)
def test_update_rejects_bad_batches(logits, labels, error, match) -> None:
    confusion = ConfusionCounts(4)
    with pytest.raises(error, match=match):
        confusion.update(logits, labels)
    assert int(confusion.counts.sum()) == 0


def test_ill_args() -> None:
    with pytest.raises(ValueError, match="`num_classes`"):
        ConfusionCounts(1)
    with pytest.raises(ValueError, match="3 class names given for 4 classes"):
        ConfusionCounts(4).summary(["a", "b", "c"])
    with pytest.raises(ValueError, match="cannot merge"):
        ConfusionCounts(4).merge(ConfusionCounts(3))
