"""Map preparation as one named, recorded step: resample -> mask -> normalise."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.io.models import read_model
from cryoray.io.mrc import MAX_VOXELS, read_map
from cryoray.preprocessing.config import MaskConfig, PrepareConfig
from cryoray.preprocessing.masks import contour_mask, zone_mask
from cryoray.preprocessing.normalize import Normalization, normalize
from cryoray.preprocessing.resample import resample

__all__ = ["PrepareRecord", "build_mask", "prepare_map"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrepareRecord:
    """Everything :func:`prepare_map` did, enough to redo it or to undo the resampling."""

    source_frame: GridFrame
    frame: GridFrame
    config: PrepareConfig
    normalization: Normalization | None
    mask_voxels: int | None

    def to_dict(self) -> dict[str, object]:
        return {
            "source_frame": self.source_frame.to_dict(),
            "frame": self.frame.to_dict(),
            "config": self.config.model_dump(),
            "normalization": None if self.normalization is None else self.normalization.to_dict(),
            "mask_voxels": self.mask_voxels,
        }

    def label(self) -> str:
        """A one-line summary for the MRC header labels (at most 80 characters)."""
        text = f"cryoray prepare {self.config.voxel_size:g}A o{self.config.order}"
        if self.normalization is not None:
            text += f" p{self.normalization.percentile:g} s{self.normalization.scale:.4g}"
        if self.mask_voxels is not None:
            text += " masked"
        return text[:80]


def build_mask(config: MaskConfig, frame: GridFrame, *, max_voxels: int = MAX_VOXELS) -> np.ndarray:
    """Boolean mask on ``frame`` as the config describes (a mask map above ``max_voxels`` is refused)."""
    if config.map is not None:
        mask_map = read_map(config.map, max_voxels=max_voxels)
        return contour_mask(mask_map, float(config.contour), frame, source=config.map, max_voxels=max_voxels)  # type: ignore[arg-type]
    model = read_model(config.model)  # type: ignore[arg-type]
    return zone_mask(frame, model.atoms().xyz, config.radius, source=config.model)


def prepare_map(
    density: DensityMap, config: PrepareConfig, *, source: object = "map"
) -> tuple[DensityMap, PrepareRecord]:
    """Resample to ``config.voxel_size``, apply the mask, and normalise, recording each step.

    Raises:
        MapTooLargeError: the resampled grid would have more than ``config.max_voxels`` voxels
            (checked before it is allocated).
        MapValueError: nothing positive to normalise, or an empty mask.
        plus the read errors of the mask's map or model.
    """
    log.info(
        "resampling %s voxels of %s Å to %g Å",
        density.frame.shape_xyz,
        "x".join(f"{v:.4g}" for v in density.voxel_size),
        config.voxel_size,
    )
    out = resample(density, config.voxel_size, order=config.order, max_voxels=config.max_voxels, source=source)
    mask_voxels = None
    if config.mask is not None:
        mask = build_mask(config.mask, out.frame, max_voxels=config.max_voxels)
        mask_voxels = int(mask.sum())
        out = out.with_data(np.where(mask, out.data, np.float32(0)))
        log.info("mask keeps %d of %d voxels", mask_voxels, out.frame.n_voxels)
    record_norm = None
    if config.normalize:
        out, record_norm = normalize(out, percentile=config.percentile, source=source)
    record = PrepareRecord(density.frame, out.frame, config, record_norm, mask_voxels)
    return DensityMap(data=out.data, frame=out.frame, labels=(*density.labels, record.label())), record
