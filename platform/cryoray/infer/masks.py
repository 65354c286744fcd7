"""Masks at inference: which voxels to predict, and where to keep the input's own density.

Two modes, one mask (a mask map with a contour, or a zone around a model's atoms; see
:class:`~cryoray.preprocessing.MaskConfig`):

* ``zero``: density outside the mask is set to 0 before normalising and predicting, as
  ``cryoray prepare --mask-*`` does; the network sees only the masked molecule.
* ``keep``: the network sees the whole map, and inside the mask the output keeps the input's
  (prepared, normalised) density instead of the prediction: ligands, lipids or detergent that
  an enhancement model trained on protein would erase survive (give a zone around their atoms).
  Applies to regression outputs (enhanced maps); probability maps are left as predicted.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from cryoray.io.density_map import GridFrame
from cryoray.preprocessing.config import MaskConfig
from cryoray.preprocessing.prepare import build_mask

__all__ = ["MaskMode", "keep_input", "mask_on"]

MaskMode = Literal["zero", "keep"]


def mask_on(config: MaskConfig, frame: GridFrame) -> np.ndarray:
    """The boolean mask ``config`` describes, on ``frame``."""
    return build_mask(config, frame)


def keep_input(prediction: np.ndarray, density: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``prediction`` with the voxels inside ``mask`` taken from ``density`` (in place; returned)."""
    if prediction.shape != density.shape or mask.shape != density.shape:
        raise ValueError(f"shapes differ: prediction {prediction.shape}, density {density.shape}, mask {mask.shape}")
    np.copyto(prediction, density, where=mask)
    return prediction
