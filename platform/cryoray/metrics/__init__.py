"""Measures of maps and models: fit of a model in a map, voxel classification, map-to-map scores,
FSC, local resolution and CryoRes's scores of it, map–model correlations and Q-scores."""

from __future__ import annotations

import importlib

from cryoray.metrics.fit import FitReport, fit_check

__all__ = [
    "ConfusionCounts",
    "FitReport",
    "FscCurve",
    "LocalResolution",
    "MapModelCorrelations",
    "PearsonAccumulator",
    "QScoreReport",
    "atom_q_scores",
    "cc_mask_radius",
    "check_same_shape",
    "class_targets",
    "expected_q_score",
    "fit_check",
    "fsc",
    "local_resolution",
    "local_resolution_rmse",
    "map_model_correlations",
    "mask_iou",
    "mask_miou",
    "pearson",
    "q_score",
    "soft_edge_mask",
    "ssim3d",
    "summarise_q_scores",
]

#: Names whose modules import torch and MONAI (seconds) or scipy, loaded on first use so that
#: ``from cryoray.metrics import fit_check`` (every CLI start) does not pay for them.
_LAZY = {
    "ConfusionCounts": "cryoray.metrics.classification",
    "class_targets": "cryoray.metrics.classification",
    "PearsonAccumulator": "cryoray.metrics.regression",
    "check_same_shape": "cryoray.metrics.regression",
    "pearson": "cryoray.metrics.regression",
    "ssim3d": "cryoray.metrics.regression",
    "FscCurve": "cryoray.metrics.shell_correlation",
    "fsc": "cryoray.metrics.shell_correlation",
    "soft_edge_mask": "cryoray.metrics.shell_correlation",
    "LocalResolution": "cryoray.metrics.local_resolution",
    "local_resolution": "cryoray.metrics.local_resolution",
    "local_resolution_rmse": "cryoray.metrics.cryores",
    "mask_iou": "cryoray.metrics.cryores",
    "mask_miou": "cryoray.metrics.cryores",
    "MapModelCorrelations": "cryoray.metrics.map_model",
    "cc_mask_radius": "cryoray.metrics.map_model",
    "map_model_correlations": "cryoray.metrics.map_model",
    "QScoreReport": "cryoray.metrics.qscore",
    "atom_q_scores": "cryoray.metrics.qscore",
    "expected_q_score": "cryoray.metrics.qscore",
    "q_score": "cryoray.metrics.qscore",
    "summarise_q_scores": "cryoray.metrics.qscore",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
