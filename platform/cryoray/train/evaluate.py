"""Per-head validation: losses, confusion counts or correlations, summed over workers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
import torch.distributed as dist

from cryoray.losses import CombinedLoss
from cryoray.metrics.classification import ConfusionCounts
from cryoray.metrics.regression import PearsonAccumulator
from cryoray.train.targets import CLASS_NAMES, is_classification

__all__ = ["Batch", "head_inputs", "network_inputs", "validate"]

Batch = Mapping[str, torch.Tensor]


def head_inputs(batch: Batch) -> torch.Tensor:
    """The network input ``(B, 1, D, H, W)`` float32 from a batch's ``input`` column."""
    return batch["input"].unsqueeze(1).float()


def network_inputs(batch: Batch) -> dict[str, torch.Tensor]:
    """The network's keyword inputs besides the boxes: ``embedding`` ``(B, dim)`` when the batch carries it."""
    return {"embedding": batch["embedding"].float()} if "embedding" in batch else {}


def head_target(batch: Batch, label: str) -> torch.Tensor:
    """Class indices ``(B, D, H, W)`` or values ``(B, 1, D, H, W)`` of ``label``."""
    target = batch[label]
    return target.long() if is_classification(label) else target.unsqueeze(1).float()


def _all_reduce(t: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t)
    return t


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    batches: Iterable[Batch],
    labels: Mapping[str, str],
    losses: Mapping[str, CombinedLoss],
    autocast: torch.autocast,
) -> tuple[dict[str, float], dict[str, torch.Tensor] | None]:
    """Metrics over every worker's shard of the validation split, and this worker's first sample.

    Returns ``val/loss``, per head ``val/<head>/loss`` and either per-class precision, recall
    and F1 with macro F1 (classification) or ``pcc`` of the prediction and ``pcc_input`` of the
    input map against the target (regression). Sums are all-reduced, so every rank returns the
    same numbers. The sample (input, prediction, target of the first sub-grid per head) is for
    pictures.
    """
    model.eval()
    device = next(model.parameters()).device
    totals = torch.zeros(1 + len(labels), dtype=torch.float64, device=device)  # batches, head losses
    confusion = {h: ConfusionCounts(len(CLASS_NAMES[lab])) for h, lab in labels.items() if is_classification(lab)}
    pcc = {h: (PearsonAccumulator(), PearsonAccumulator()) for h, lab in labels.items() if not is_classification(lab)}
    sample = None
    for batch in batches:
        x = head_inputs(batch)
        with autocast:
            outputs = model(x, **network_inputs(batch))
        totals[0] += 1
        for i, (head, label) in enumerate(labels.items()):
            pred, target = outputs[head].float(), head_target(batch, label)
            totals[1 + i] += losses[head](pred, target).total.double()
            if head in confusion:
                confusion[head].update(pred, target)
            else:
                pcc[head][0].update(pred, target)
                pcc[head][1].update(x, target)
            if sample is None:
                shown = pred.argmax(1) if head in confusion else pred[:, 0]
                sample = {
                    "input": x[0, 0].cpu(),
                    "prediction": shown[0].float().cpu(),
                    "target": target[0].reshape(x.shape[2:]).float().cpu(),
                }
    model.train()
    _all_reduce(totals)
    n = max(1.0, float(totals[0]))
    metrics = {f"val/{head}/loss": float(totals[1 + i]) / n for i, head in enumerate(labels)}
    metrics["val/loss"] = sum(metrics.values())
    for head, counts in confusion.items():
        counts.counts = _all_reduce(counts.counts.to(device))
        for key, value in counts.summary(CLASS_NAMES[labels[head]]).items():
            metrics[f"val/{head}/{key}"] = value
    for head, (pred_acc, input_acc) in pcc.items():
        pred_acc.sums, input_acc.sums = _all_reduce(pred_acc.sums.to(device)), _all_reduce(input_acc.sums.to(device))
        metrics[f"val/{head}/pcc"] = pred_acc.compute()
        metrics[f"val/{head}/pcc_input"] = input_acc.compute()
    return metrics, sample
