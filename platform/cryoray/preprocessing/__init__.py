"""Preparing maps for networks: resampling, normalisation, masks."""

from __future__ import annotations

from cryoray.preprocessing.config import MaskConfig, PrepareConfig
from cryoray.preprocessing.masks import contour_mask, zone_mask
from cryoray.preprocessing.normalize import Normalization, apply_normalization, normalize
from cryoray.preprocessing.prepare import PrepareRecord, prepare_map
from cryoray.preprocessing.resample import resample, resample_onto
from cryoray.preprocessing.synthetic_halves import SyntheticHalves, synthetic_halves

__all__ = [
    "MaskConfig",
    "Normalization",
    "PrepareConfig",
    "PrepareRecord",
    "SyntheticHalves",
    "apply_normalization",
    "contour_mask",
    "normalize",
    "prepare_map",
    "resample",
    "resample_onto",
    "synthetic_halves",
    "zone_mask",
]
