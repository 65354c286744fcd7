"""What the inference front ends know of a model without its weights: its box, heads and preprocessing.

A :class:`ModelSpec` is taken once from a loaded :class:`~cryoray.infer.Predictor`
(``predictor.spec``); the CLI, the batch pipeline's driver and Serve's ingress (which never holds
the weights) choose heads, channels, tiling and preparation from specs alone, through the same
functions (:mod:`cryoray.infer.channels`, :mod:`cryoray.infer.recipe`). :class:`HeadSpec` and
:class:`~cryoray.bundle.Preprocessing` are the model bundle's (:mod:`cryoray.bundle`). Importing
this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cryoray.bundle import HeadSpec, Preprocessing

__all__ = ["HeadSpec", "ModelSpec"]


@dataclass(frozen=True)
class ModelSpec:
    """A model as inference sees it.

    Args:
        name: how reports and errors name it (a reference, or a Serve registry name).
        box: the box edge the network takes.
        heads: its outputs, by name.
        reference: where it was loaded from (checkpoint directory or registered model).
        parameters: its number of parameters.
        preprocessing: what its bundle says it expects; None for a model that states nothing
            (an older checkpoint directory), which gets cryoray's defaults.
    """

    name: str
    box: int
    heads: Mapping[str, HeadSpec]
    reference: str = ""
    parameters: int = 0
    preprocessing: Preprocessing | None = None

    @property
    def regression_only(self) -> bool:
        """No classification head (an enhancement model such as CryoTEN's)."""
        return not any(h.classification for h in self.heads.values())

    def head_for_label(self, label: str) -> HeadSpec | None:
        """The head trained on store label ``label`` (e.g. ``atom``), if any."""
        return next((h for h in self.heads.values() if h.label == label), None)

    def head_names(self, *, classification: bool) -> list[str]:
        """Names of the classification (or the regression) heads."""
        return [h.name for h in self.heads.values() if h.classification == classification]

    def to_dict(self) -> dict[str, object]:
        return {
            "reference": self.reference,
            "box": self.box,
            "parameters": self.parameters,
            "heads": [h.to_dict() for h in self.heads.values()],
            "preprocessing": None if self.preprocessing is None else self.preprocessing.to_dict(),
        }
