"""Whole-map inference: enhanced maps, probability maps and models from a trained network.

The pieces, for the CLI, Ray Data batch inference and Ray Serve alike:

* :class:`ModelSpec` (``spec.py``): a model's box and heads, without its weights
  (``predictor.spec``); what every front end decides from. :class:`Recipe` (``recipe.py``):
  preparation, tiling and blend weights for a set of models. ``channels.py``: which channels an
  enhancement, a segmentation or model building stitches, and stacking predictions into them;
  ``candidates.py``: Cα candidates → clustered HMM states.
* :func:`resolve_reference` (``reference.py``): a model bundle (:mod:`cryoray.bundle`) or older
  checkpoint directory, or an MLflow registered model ``models:/NAME/VERSION`` / ``NAME[/VERSION]``
  downloaded once to a local cache.
* :class:`Predictor` (``predictor.py``): ``Predictor.from_reference(ref, device=..., precision=...)``
  loads once (safetensors only, checked against the bundle's SHA-256; its preprocessing becomes the
  spec's); ``predictor.predict(boxes)`` maps ``(N, 1, b, b, b)`` float32 to
  ``{head: (N, C, b, b, b)}`` numpy arrays (softmax probabilities for classification heads,
  values for regression heads) under ``torch.inference_mode()``, bf16 autocast on CUDA.
* :class:`TilePlan` / :class:`Stitcher` (``stitching.py``): ``plan.batches(data, n)`` cuts a
  prepared map into box batches; ``Stitcher(plan, channels, weights=blend_weights(...), sink=...)``
  takes predictions batch by batch (``add(origins, values)``) and hands finished z-sections to a
  sink (:class:`DenseSink` whole maps, :class:`CandidateSink` voxels above a threshold), so
  memory is bounded by boxes, not by the map. True weighted mean, constant or Gaussian weights.
* :func:`predict_map` (``whole_map.py``): prepare (1 Å, normalise, optional mask) → tile →
  predict → stitch, for one map or two half maps; :meth:`MapPrediction.on_source_frame` puts an
  output back on the input's grid (``frame.py``), so it overlays the input exactly.
* :func:`predict_local_resolution` (``local_resolution.py``): a CryoRes model over a whole map,
  post-processed as the paper (global + relative local resolution, times the molecular mask) on
  the input's grid.
* :func:`build_from_map` (``building.py``): Cα candidates + amino-acid rows → HMM states →
  threaded Cα model, without whole probability maps.
* :class:`InferConfig` (``config.py``): tiling preset, blending, batch size, device, precision;
  settings left unset are the bundles' (the recipe reports which were overridden).
* ``importing.py``: published checkpoints (CryoTEN, Cryo2Struct) → bundles (``cryoray import-weights``).

Importing the package is cheap; torch loads when a name that needs it is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryoray.infer.building import BuildReport, build_from_map, predict_states
    from cryoray.infer.channels import OutputChannel, build_channels, output_channels
    from cryoray.infer.config import InferConfig
    from cryoray.infer.errors import ModelReferenceError
    from cryoray.infer.frame import to_source_frame
    from cryoray.infer.inputs import PreparedInput, average_halves, prepare_input
    from cryoray.infer.local_resolution import (
        aggregate_local_resolution,
        local_resolution_map,
        predict_local_resolution,
        predicted_local_resolution,
    )
    from cryoray.infer.masks import keep_input, mask_on
    from cryoray.infer.predictor import Predictor, resolve_device
    from cryoray.infer.recipe import Recipe
    from cryoray.infer.reference import ModelReference, parse_reference, resolve_reference
    from cryoray.infer.spec import HeadSpec, ModelSpec
    from cryoray.infer.stitching import CandidateSink, DenseSink, Stitcher, TilePlan, blend_weights
    from cryoray.infer.whole_map import InferenceStats, MapPrediction, predict_map, run_plan

# Names load on first use, so ``cryoray.infer.config`` and ``.reference`` (used by the CLI before
# any work starts) do not pull in torch.
_SOURCES = {
    "BuildReport": "building",
    "CandidateSink": "stitching",
    "DenseSink": "stitching",
    "HeadSpec": "spec",
    "InferConfig": "config",
    "InferenceStats": "whole_map",
    "MapPrediction": "whole_map",
    "ModelReference": "reference",
    "ModelReferenceError": "errors",
    "ModelSpec": "spec",
    "OutputChannel": "channels",
    "Predictor": "predictor",
    "PreparedInput": "inputs",
    "Recipe": "recipe",
    "Stitcher": "stitching",
    "TilePlan": "stitching",
    "aggregate_local_resolution": "local_resolution",
    "average_halves": "inputs",
    "blend_weights": "stitching",
    "build_channels": "channels",
    "build_from_map": "building",
    "keep_input": "masks",
    "local_resolution_map": "local_resolution",
    "mask_on": "masks",
    "output_channels": "channels",
    "parse_reference": "reference",
    "predict_local_resolution": "local_resolution",
    "predict_map": "whole_map",
    "predicted_local_resolution": "local_resolution",
    "predict_states": "building",
    "prepare_input": "inputs",
    "resolve_device": "predictor",
    "resolve_reference": "reference",
    "run_plan": "whole_map",
    "to_source_frame": "frame",
}

__all__ = [
    "BuildReport",
    "CandidateSink",
    "DenseSink",
    "HeadSpec",
    "InferConfig",
    "InferenceStats",
    "MapPrediction",
    "ModelReference",
    "ModelReferenceError",
    "ModelSpec",
    "OutputChannel",
    "Predictor",
    "PreparedInput",
    "Recipe",
    "Stitcher",
    "TilePlan",
    "aggregate_local_resolution",
    "average_halves",
    "blend_weights",
    "build_channels",
    "build_from_map",
    "keep_input",
    "local_resolution_map",
    "mask_on",
    "output_channels",
    "parse_reference",
    "predict_local_resolution",
    "predict_map",
    "predict_states",
    "predicted_local_resolution",
    "prepare_input",
    "resolve_device",
    "resolve_reference",
    "run_plan",
    "to_source_frame",
]


def __getattr__(name: str) -> object:
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module 'cryoray.infer' has no attribute {name!r}")
    return getattr(importlib.import_module(f"cryoray.infer.{module}"), name)
