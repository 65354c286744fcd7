"""CryoRes's post-processing: local resolution = (global + relative) × mask, on the input's own grid.

The paper (``shared/papers/cryores.txt``, "Post-processing") aggregates, then rescales: the
predicted baseline (global resolution) plus the relative local resolution, multiplied by the
predicted molecular mask, brought back to the size of the input map. Here the three outputs go
back to the input's frame first (:func:`~cryoray.infer.frame.to_source_frame`: values cubic,
the mask probability trilinear) and are aggregated there, with the mask thresholded on the
input's own voxels. The values inside the mask are the same; the order keeps the mask's edge
sharp: resampling the aggregated map would blend resolutions with the zeros outside into
spuriously "better" values along the boundary.

:func:`predict_local_resolution` runs a CryoRes model over a whole map through the same core as
every command (:func:`~cryoray.infer.predict_map`: prepare, tile, predict, stitch) and
post-processes the result; ``cryoray local-resolution MAP --model REF`` calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from cryoray.errors import ConfigError
from cryoray.infer.frame import to_source_frame
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.models.cryores import CRYORES_HEADS

if TYPE_CHECKING:
    from cryoray.infer.config import InferConfig
    from cryoray.infer.predictor import Predictor
    from cryoray.infer.spec import ModelSpec
    from cryoray.infer.whole_map import MapPrediction

__all__ = [
    "MASK_THRESHOLD",
    "aggregate_local_resolution",
    "local_resolution_map",
    "mask_channel_name",
    "predict_local_resolution",
    "predicted_local_resolution",
]

#: Mask probability at or above which a voxel is molecule.
MASK_THRESHOLD = 0.5


def aggregate_local_resolution(
    global_: np.ndarray, relative: np.ndarray, mask_probability: np.ndarray, *, threshold: float = MASK_THRESHOLD
) -> np.ndarray:
    """``(global_ + relative) · [mask_probability ≥ threshold]``, float32, 0 outside the mask.

    Args:
        global_: global resolution per voxel (Å; one value, or one per box where boxes were stitched).
        relative: relative local resolution per voxel (Å), the shape of ``global_``.
        mask_probability: molecule probability per voxel, the same shape.
        threshold: probability at or above which a voxel is molecule.

    Raises:
        ValueError: the shapes differ, or ``threshold`` is outside (0, 1].

    Example:
        >>> aggregate_local_resolution(np.full(3, 4.0), np.array([-1.0, 0.5, 2.0]), np.array([0.9, 0.5, 0.1]))
        array([3. , 4.5, 0. ], dtype=float32)
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"`threshold` must be in (0, 1], got {threshold}")
    shapes = {"global": global_.shape, "relative": relative.shape, "mask": mask_probability.shape}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"shapes differ: {', '.join(f'{name} {shape}' for name, shape in shapes.items())}")
    inside = mask_probability >= threshold
    return np.where(inside, global_ + relative, 0.0).astype(np.float32)


def local_resolution_map(
    global_: DensityMap,
    relative: DensityMap,
    mask_probability: DensityMap,
    frame: GridFrame,
    *,
    threshold: float = MASK_THRESHOLD,
) -> DensityMap:
    """The local-resolution map (Å, 0 outside the mask) on ``frame``, the input map's own grid.

    ``global_`` and ``relative`` are sampled on ``frame`` with cubic splines, ``mask_probability``
    trilinearly (so it stays in [0, 1]); then :func:`aggregate_local_resolution`. The result's
    frame is ``frame`` itself.
    """
    parts = [
        to_source_frame(global_, frame),
        to_source_frame(relative, frame),
        to_source_frame(mask_probability, frame, order=1),
    ]
    data = aggregate_local_resolution(*(part.data for part in parts), threshold=threshold)
    return DensityMap(data, frame, labels=("cryoray cryores local resolution (A)",))


def predicted_local_resolution(
    prediction: MapPrediction,
    *,
    global_channel: str = "global",
    relative_channel: str = "relative",
    mask_channel: str = "mask_molecule",
    threshold: float = MASK_THRESHOLD,
) -> DensityMap:
    """:func:`local_resolution_map` of a whole-map prediction of CryoRes's heads, on the input's grid.

    Raises:
        KeyError: a channel the prediction lacks (the message lists those it has).
    """
    return local_resolution_map(
        prediction.prepared(global_channel),
        prediction.prepared(relative_channel),
        prediction.prepared(mask_channel),
        prediction.record.source_frame,
        threshold=threshold,
    )


def mask_channel_name(spec: ModelSpec) -> str:
    """The stitched channel of the molecule probability (``mask_molecule``) of a CryoRes model.

    Raises:
        ConfigError: the model lacks CryoRes's heads (``global``, ``relative`` regression heads and a
            two-class ``mask`` head, molecule last).
    """
    heads = spec.heads
    mask = heads.get("mask")
    fits = (
        all(name in heads for name in CRYORES_HEADS)
        and not heads["global"].classification
        and not heads["relative"].classification
        and mask is not None
        and mask.class_names is not None
        and len(mask.class_names) == 2
    )
    if not fits:
        found = ", ".join(f"{h.name} ({h.channels} channels)" for h in heads.values())
        raise ConfigError(
            "model",
            f"{spec.name or spec.reference}: not a CryoRes model: needs regression heads global and relative and a "
            f"two-class head mask; it has {found}",
        )
    return f"mask_{mask.class_names[1]}"


def predict_local_resolution(
    density: DensityMap | Sequence[DensityMap],
    predictor: Predictor,
    config: InferConfig | None = None,
    *,
    threshold: float = MASK_THRESHOLD,
    source: object = "map",
) -> tuple[DensityMap, MapPrediction]:
    """CryoRes's local resolution of ``density`` (Å per voxel on its frame, 0 outside the predicted mask).

    Args:
        density: the map in its own frame (two half maps are averaged first).
        predictor: a CryoRes model (see :func:`mask_channel_name`).
        config: tiling, batch size, device, preparation; unset settings are the bundle's.
        threshold: molecule probability at or above which a voxel is inside the mask.
        source: how errors name the input.

    Returns:
        the local-resolution map on the input's frame, and the stitched prediction (on the
        prepared grid; its ``settings`` say where each setting came from).

    Raises:
        ConfigError: the model lacks CryoRes's heads.
    """
    from cryoray.infer.whole_map import predict_map

    mask_channel = mask_channel_name(predictor.spec)
    prediction = predict_map(density, predictor, config, heads=list(CRYORES_HEADS), source=source)
    result = predicted_local_resolution(prediction, mask_channel=mask_channel, threshold=threshold)
    return result, prediction
