"""Which channels of which heads a front end stitches, and how predictions are stacked into them.

Every front end (CLI, batch pipeline, Serve) chooses its channels here, from model specs:
all or some heads (:func:`output_channels`), the one regression head an enhancement writes
(:func:`regression_channel`), the probability maps a segmentation writes
(:func:`segment_channels`), or P(Cα) and the 20 amino-acid probabilities model building needs
(:func:`build_channels`). :func:`stack_channels` turns per-head predictions into the
``(N, C, b, b, b)`` array a :class:`~cryoray.infer.Stitcher` takes. Errors name config keys
(``heads``, ``head``, ``models``), which the CLI's flags and Serve's query parameters mirror.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from cryoray.errors import ConfigError
from cryoray.infer.spec import HeadSpec, ModelSpec

if TYPE_CHECKING:
    from cryoray.infer.predictor import Predictor

__all__ = [
    "OutputChannel",
    "build_channels",
    "ca_score_head",
    "output_channels",
    "predict_channels",
    "regression_channel",
    "segment_channels",
    "stack_channels",
]

#: the amino-acid head's classes used for model building: 1..20 (A R N D … V), without "none" (0)
AMINO_ACIDS = range(1, 21)


@dataclass(frozen=True)
class OutputChannel:
    """One stitched output: channel ``channel`` of head ``head`` of model ``predictor`` (its index).

    ``name`` is what files and reports call it: the head for single-channel regression heads,
    ``HEAD_CLASS`` for a class (e.g. ``atom_CA``). ``on_density``: the channel is set to 0
    wherever the input box is not above 0 (see :func:`stack_channels`).
    """

    predictor: int
    head: str
    channel: int
    name: str
    classification: bool
    on_density: bool = False


def _channel(index: int, head: HeadSpec, c: int) -> OutputChannel:
    if head.class_names is not None:
        name = f"{head.name}_{head.class_names[c]}"
    else:
        name = head.name if head.channels == 1 else f"{head.name}_{c}"
    return OutputChannel(index, head.name, c, name, head.classification)


def output_channels(specs: Sequence[ModelSpec], heads: Sequence[str] | None = None) -> list[OutputChannel]:
    """Every channel of the chosen heads (all heads when None) of every model.

    Raises:
        ConfigError: a head in ``heads`` that no model has.
    """
    known = {name for s in specs for name in s.heads}
    unknown = sorted(set(heads or ()) - known)
    if unknown:
        raise ConfigError("heads", f"unknown head(s) {unknown}; the model has {sorted(known)}")
    return [
        _channel(index, head, c)
        for index, spec in enumerate(specs)
        for head in spec.heads.values()
        if heads is None or head.name in heads
        for c in range(head.channels)
    ]


def regression_channel(spec: ModelSpec, head: str | None = None) -> OutputChannel:
    """The output an enhancement writes: (the first channel of) regression head ``head``, or of the only one.

    Raises:
        ConfigError: ``head`` is not a regression head, or it is None and the model has none or several.
    """
    names = spec.head_names(classification=False)
    if head is not None and head not in names:
        raise ConfigError("head", f"model '{spec.name}' has no regression head {head!r}; its regression heads: {names}")
    if head is None and len(names) != 1:
        what = "no regression head" if not names else f"several regression heads {names}: choose one with head"
        raise ConfigError("model", f"model '{spec.name}' has {what} (enhancement needs one)")
    return output_channels([spec], [head or names[0]])[0]


def segment_channels(spec: ModelSpec, heads: Sequence[str] | None = None) -> list[OutputChannel]:
    """The probability maps a segmentation writes: every class of the chosen (default: all) classification heads.

    Raises:
        ConfigError: an unknown head, or no classification head among those chosen.
    """
    wanted = list(heads) if heads is not None else spec.head_names(classification=True)
    channels = [c for c in output_channels([spec], wanted) if c.classification]
    if not channels:
        raise ConfigError(
            "heads", f"no classification head among {wanted} (model '{spec.name}' has heads {sorted(spec.heads)})"
        )
    return channels


def _first_head(specs: Sequence[ModelSpec], labels: Sequence[str]) -> tuple[int, HeadSpec] | None:
    """``(model index, head)`` of the first model's head trained on one of ``labels`` (in that order)."""
    for index, spec in enumerate(specs):
        for label in labels:
            head = spec.head_for_label(label)
            if head is not None:
                return index, head
    return None


def ca_score_head(specs: Sequence[ModelSpec]) -> tuple[int, HeadSpec] | None:
    """``(model index, head)`` model building takes the Cα score from (see :func:`build_channels`), or None."""
    return _first_head(specs, ("atom", "ca_heatmap"))


def build_channels(specs: Sequence[ModelSpec]) -> list[OutputChannel]:
    """What model building stitches: the Cα score first, then the 20 amino-acid probabilities (A R N D … V).

    The Cα score is P(Cα) of a head trained on ``atom`` (class ``CA``, Cryo2Struct) or the
    predicted heatmap of a head trained on ``ca_heatmap`` (1 at a Cα, peak-picked by the
    candidate clustering), the amino-acid probabilities come from a head trained on
    ``amino_acid``: one model with both, or two models. With both Cα kinds the first found wins.

    Raises:
        ConfigError: no head trained on ``atom`` (with a ``CA`` class) or ``ca_heatmap`` (one
            channel), or none on ``amino_acid`` (21 classes).
    """
    found = {"ca": ca_score_head(specs), "amino_acid": _first_head(specs, ("amino_acid",))}
    found = {kind: head for kind, head in found.items() if head is not None}
    needs = {"ca": "atom or ca_heatmap", "amino_acid": "amino_acid"}
    missing = [labels for kind, labels in needs.items() if kind not in found]
    if missing:
        raise ConfigError(
            "models", f"model building needs heads trained on {missing} (one model with both, or two models)"
        )
    ca_index, ca_head = found["ca"]
    aa_index, aa = found["amino_acid"]
    if ca_head.label == "atom" and (ca_head.class_names is None or "CA" not in ca_head.class_names):
        raise ConfigError("models", "the atom head needs a CA class")
    if ca_head.label == "ca_heatmap" and ca_head.channels != 1:
        raise ConfigError("models", f"the ca_heatmap head needs 1 channel, got {ca_head.channels}")
    if aa.channels != 21:
        raise ConfigError("models", "the amino-acid head needs 21 classes (none + 20)")
    ca_channel = ca_head.class_names.index("CA") if ca_head.label == "atom" else 0
    # A Cα lies in density: no candidate where the prepared map is 0 (masked away, or negative and
    # clipped). A network never shown empty boxes (stores skip boxes without atoms) can score such
    # regions anywhere: one gave 0.40 on an all-zero box, 53,069 candidates on the masked EMD-0093.
    ca = replace(_channel(ca_index, ca_head, ca_channel), on_density=True)
    return [ca, *(_channel(aa_index, aa, c) for c in AMINO_ACIDS)]


def stack_channels(
    outputs: Mapping[int, Mapping[str, np.ndarray]], channels: Sequence[OutputChannel], boxes: np.ndarray
) -> np.ndarray:
    """``(N, C, b, b, b)`` from per-model, per-head predictions ``{model index: {head: (N, C_head, b, b, b)}}``
    of the input ``boxes`` ``(N, 1, b, b, b)``; channels ``on_density`` are 0 where the input is not above 0."""
    stacked = np.stack([outputs[c.predictor][c.head][:, c.channel] for c in channels], axis=1)
    gated = [i for i, c in enumerate(channels) if c.on_density]
    if gated:
        stacked[:, gated] *= np.asarray(boxes)[:, :1] > 0
    return stacked


def predict_channels(
    predictors: Sequence[Predictor], channels: Sequence[OutputChannel], boxes: np.ndarray
) -> np.ndarray:
    """``channels`` of ``(N, 1, b, b, b)`` boxes, each model that gives one of them run once."""
    used = sorted({c.predictor for c in channels})
    return stack_channels({i: predictors[i].predict(boxes) for i in used}, channels, boxes)
