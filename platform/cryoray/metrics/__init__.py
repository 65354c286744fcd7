"""Measures of maps and models: fit of a model in a map, voxel classification and map-to-map scores."""

from __future__ import annotations

import importlib

from cryoray.metrics.fit import FitReport, fit_check

__all__ = [
    "ConfusionCounts",
    "FitReport",
    "PearsonAccumulator",
    "check_same_shape",
    "class_targets",
    "fit_check",
    "pearson",
    "ssim3d",
]

#: Names whose modules import torch and MONAI (seconds), loaded on first use so that
#: ``from cryoray.metrics import fit_check`` (every CLI start) does not pay for them.
_LAZY = {
    "ConfusionCounts": "cryoray.metrics.classification",
    "class_targets": "cryoray.metrics.classification",
    "PearsonAccumulator": "cryoray.metrics.regression",
    "check_same_shape": "cryoray.metrics.regression",
    "pearson": "cryoray.metrics.regression",
    "ssim3d": "cryoray.metrics.regression",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
