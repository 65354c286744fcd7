"""A weighted sum of loss terms that also reports each term, built from a :class:`LossConfig`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from monai.losses import SSIMLoss
from torch import nn

from cryoray.losses.config import LossConfig, LossTermConfig
from cryoray.losses.correlation import CorrelationLoss
from cryoray.losses.heatmap_mse import HeatmapMSELoss
from cryoray.losses.labelled_ce import LabelledCrossEntropyLoss
from cryoray.losses.log_abs_error import LogAbsoluteErrorLoss
from cryoray.losses.masked_mse import MaskedMSELoss
from cryoray.losses.weighted_ce import WeightedCrossEntropyLoss, class_weights
from cryoray.metrics.classification import class_targets
from cryoray.metrics.regression import check_same_shape

__all__ = ["CombinedLoss", "LossOutput", "build_loss"]

#: torch's SmoothL1 ``beta``, the value range of maps normalised to [0, 1], a heatmap's peak weight
#: (a Cα peak's voxels count up to 6×: enough that a 1–3 % class is not predicted away) and the
#: amino-acid label's "none" class.
DEFAULT_BETA = 1.0
DEFAULT_DATA_RANGE = 1.0
DEFAULT_PEAK_WEIGHT = 5.0
DEFAULT_IGNORE_INDEX = 0


@dataclass(frozen=True)
class LossOutput:
    """What :class:`CombinedLoss` returns.

    Args:
        total: the weighted sum, to call ``backward()`` on.
        terms: each term's unweighted value, detached, by name (for logging).
    """

    total: torch.Tensor
    terms: dict[str, torch.Tensor]


class CombinedLoss(nn.Module):
    """``Σ_i weight_i · term_i(input, target)``, reporting every term.

    The targets are checked once for all terms: for ``classification`` logits ``(B, C, D, H, W)``
    and class indices ``(B, D, H, W)`` or ``(B, 1, D, H, W)`` (the terms get ``(B, D, H, W)``);
    for ``regression`` two tensors of one shape, e.g. ``(B, 1, D, H, W)``.

    Args:
        terms: ``(name, weight, module)`` per term; names must be unique.
        task: ``classification`` or ``regression``.

    Raises:
        ValueError: no terms, a repeated name, a negative weight, or an unknown task.
    """

    def __init__(
        self, terms: Sequence[tuple[str, float, nn.Module]], *, task: Literal["classification", "regression"]
    ) -> None:
        super().__init__()
        if task not in ("classification", "regression"):
            raise ValueError(f"`task` must be 'classification' or 'regression', got {task!r}")
        names = [name for name, _, _ in terms]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"`terms` must have at least one term and unique names, got {names}")
        if any(weight < 0 for _, weight, _ in terms):
            raise ValueError(f"term weights must not be negative, got {[weight for _, weight, _ in terms]}")
        self.task = task
        self.weights = {name: float(weight) for name, weight, _ in terms}
        self.terms = nn.ModuleDict({name: module for name, _, module in terms})

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> LossOutput:
        """The weighted sum and the terms of ``input`` against ``target``.

        Raises:
            TypeError: classification targets are not integers.
            ValueError: the shapes do not pair up (the message shows both).
        """
        if self.task == "classification":
            target = class_targets(input, target)
        else:
            check_same_shape(input, target)
        values = {name: term(input, target) for name, term in self.terms.items()}
        total = sum(self.weights[name] * value for name, value in values.items())
        return LossOutput(total=total, terms={name: value.detach() for name, value in values.items()})


def build_loss(config: LossConfig, class_counts: Sequence[int] | None = None) -> CombinedLoss:
    """The :class:`CombinedLoss` that ``config`` describes, each term named by its kind.

    Args:
        config: the validated loss settings.
        class_counts: voxels per class in the training set; needed by ``weighted_ce`` only
            (ignored otherwise).

    Raises:
        ValueError: ``weighted_ce`` without ``class_counts``, or unusable counts.
    """
    terms = [(term.kind, term.weight, _term_module(term, class_counts)) for term in config.terms]
    return CombinedLoss(terms, task=config.task)


def _term_module(term: LossTermConfig, class_counts: Sequence[int] | None) -> nn.Module:
    match term.kind:
        case "weighted_ce":
            if class_counts is None:
                raise ValueError(
                    "loss term 'weighted_ce' needs the training set's class counts (class_counts), got None"
                )
            return WeightedCrossEntropyLoss(class_weights(class_counts))
        case "ce":
            return nn.CrossEntropyLoss()
        case "labelled_ce":
            return LabelledCrossEntropyLoss(DEFAULT_IGNORE_INDEX if term.ignore_index is None else term.ignore_index)
        case "masked_mse":
            return MaskedMSELoss()
        case "mse":
            return nn.MSELoss()
        case "heatmap_mse":
            return HeatmapMSELoss(DEFAULT_PEAK_WEIGHT if term.peak_weight is None else term.peak_weight)
        case "smooth_l1":
            return nn.SmoothL1Loss(beta=DEFAULT_BETA if term.beta is None else term.beta)
        case "log_abs_error":
            return LogAbsoluteErrorLoss()
        case "correlation":
            return CorrelationLoss()
        case "ssim":
            data_range = DEFAULT_DATA_RANGE if term.data_range is None else term.data_range
            return SSIMLoss(spatial_dims=3, data_range=data_range)
    raise AssertionError(f"unhandled loss kind {term.kind!r}")
